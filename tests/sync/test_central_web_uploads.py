"""The claims files the web page keeps for a session (sync/central/web/uploads.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.central.web.uploads import TOKEN_RE, Uploads

A, B = "session-a", "session-b"


def test_a_file_is_given_back_only_to_its_session_until_it_expires() -> None:
    u = Uploads(max_file=100, ttl_s=60)
    token = u.put(A, b"claims", 1000)
    assert TOKEN_RE.fullmatch(token)
    assert u.get(A, token, 1059) == b"claims"
    assert u.get(B, token, 1059) is None  # another session's
    assert u.get(A, token, 1060) is None and len(u) == 0  # expired, and dropped


def test_files_are_bounded_per_file_per_session_and_in_all() -> None:
    u = Uploads(max_file=10, per_session=2, max_total=25, ttl_s=60)
    with pytest.raises(ValueError, match="above 10"):
        u.put(A, b"x" * 11, 0)
    first, second, third = (u.put(A, bytes([i]) * 10, i) for i in range(3))
    assert u.get(A, first, 3) is None  # a session keeps its newest two
    assert u.get(A, second, 3) is not None and u.get(A, third, 3) is not None
    other = u.put(B, b"y" * 10, 4)  # 30 bytes would be above 25: the oldest of all goes
    assert u.get(A, second, 5) is None and u.get(A, third, 5) is not None
    assert u.get(B, other, 5) == b"y" * 10 and u.total() == 20


def test_two_uploads_never_share_a_token() -> None:
    u = Uploads(max_file=10, per_session=1000)
    assert len({u.put(A, b"x", 0) for _ in range(500)}) == 500


@given(st.one_of(st.text(max_size=64), st.none(), st.integers(), st.binary(max_size=40)))
def test_any_forged_token_is_refused(token: object) -> None:
    u = Uploads(max_file=10)
    kept = u.put(A, b"claims", 0)
    assert u.get(A, token, 1) is None or token == kept
    assert u.get(A, "../" + kept[3:], 1) is None

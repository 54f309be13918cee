"""``pack_events``: the outbox's canonical body texts spliced into a signed
``events`` message give exactly ``pack``'s bytes (sync/protocol/send.py), and
the link splices only rows whose text is marked canonical (sync/replica/outbox.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.link.events import Moment, Publish
from sync.link.outgoing import EventSender
from sync.link.window import Window
from sync.protocol import ClockSource, Events, Message, pack, pack_events
from sync.protocol.envelope import b64url_decode
from sync.protocol.testing import private_key
from sync.protocol.wire import OutboxEvent
from sync.replica import Replica, append_event, pending_events, pending_texts

KEY = private_key("node-a")
AT = datetime(2026, 5, 4, 12, 30, 15, 250000, tzinfo=UTC)
NODE = "hall.n1"

# JSON values as a body holds them: non-ASCII and control characters, escapes
# (quotes, backslashes), big and negative integers, floats, nesting.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["å", "Ä ö", "日本", "\u2028", '"\\', "\x00\x1f", "🙂", "é"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.dictionaries(st.text(max_size=8), values, max_size=6)


def both(rep: Replica, after: int, epoch: int = 7, iat: int = 1_777_000_000) -> tuple[bytes, bytes]:
    events, texts = pending_texts(rep, after=after)
    assert None not in texts  # every row was written marked canonical
    msg = Events(epoch, tuple(events))
    spliced = pack_events(msg, texts, node=NODE, iat=iat, kid="node-a", key=KEY)  # type: ignore[arg-type]
    classic = pack(msg, node=NODE, iat=iat, kid="node-a", key=KEY)
    assert (spliced.topic, spliced.retain) == (classic.topic, classic.retain)
    return spliced.payload, classic.payload


def test_spliced_payload_is_byte_identical_over_generated_bodies(tmp_path: Path) -> None:
    rep = Replica.open(tmp_path / "node.db")
    try:

        @settings(max_examples=150, deadline=None)
        @given(st.lists(bodies, min_size=1, max_size=8))
        def check(batch: list[dict[str, Any]]) -> None:
            after = rep.state().last_seq
            for body in batch:
                append_event(rep, "access.granted", body, AT)
            spliced, classic = both(rep, after)
            assert spliced == classic

        check()
    finally:
        rep.close()


def test_the_stored_text_is_the_canonical_encoding_and_a_mark(replica: Replica) -> None:
    body = {"z": 1, "a": {"ö": [1.5, "日本"], "b": None}}
    append_event(replica, "access.granted", body, AT)
    (text,) = replica.conn.execute("SELECT body FROM outbox").fetchone()
    assert text == '{"a":{"b":null,"ö":[1.5,"日本"]},"z":1}\n'
    assert pending_events(replica)[0].body == body


@pytest.mark.parametrize(
    ("stored", "body"),
    [
        ('{"z":1,"a":2}', {"z": 1, "a": 2}),  # written before the mark: keys as given
        ('{"a": 2, "z": 1}', {"a": 2, "z": 1}),  # an older encoder's spaces
    ],
)
def test_rows_without_the_mark_go_encoded_from_their_parsed_body(
    replica: Replica, stored: str, body: dict[str, Any]
) -> None:
    append_event(replica, "access.granted", {"x": 1}, AT)
    replica.conn.execute("UPDATE outbox SET body = ?", [stored])
    events, texts = pending_texts(replica)
    assert texts == [None] and events[0].body == body


def test_a_body_with_a_member_name_not_a_string_is_stored_unmarked(replica: Replica) -> None:
    append_event(replica, "access.granted", {"n": {10: "a", 9: "b"}}, AT)
    (text,) = replica.conn.execute("SELECT body FROM outbox").fetchone()
    # sorted as integers: not the canonical order of the names JSON made ("10" < "9")
    assert text == '{"n":{"9":"b","10":"a"}}'
    append_event(replica, "access.granted", {"t": (1, 2)}, AT)  # a tuple reads back a list
    append_event(replica, "access.granted", {1: "a", "b": 2}, AT)  # names sorting cannot compare
    assert pending_texts(replica)[1] == [None, None, None]
    events = pending_events(replica)
    token = pack(Events(7, tuple(events)), node=NODE, iat=1, kid="node-a", key=KEY).payload
    payload = b64url_decode(token.split(b".")[1].decode())
    assert b'{"9":"b","10":"a"}' not in payload and b'{"10":"a","9":"b"}' in payload


def test_a_damaged_row_keeps_its_salvage_and_is_not_spliced(replica: Replica) -> None:
    append_event(replica, "access.granted", {"x": 1}, AT)
    append_event(replica, "access.granted", {"y": 2}, AT)
    replica.conn.execute(
        "UPDATE outbox SET body = CAST(CAST(body AS BLOB) || x'ff' AS TEXT) WHERE seq = 2"
    )
    events, texts = pending_texts(replica)
    assert texts == [None, None]
    assert events[0].body == {"x": 1}
    assert events[1].body["damaged"] is True and "not UTF-8" in events[1].body["detail"]
    assert events == pending_events(replica)


def test_a_marked_row_damaged_into_non_json_is_salvaged(replica: Replica) -> None:
    append_event(replica, "access.granted", {"x": 1}, AT)
    replica.conn.execute("UPDATE outbox SET body = ?", ['{"x":1\n'])
    events, texts = pending_texts(replica)
    assert texts == [None] and events[0].body["damaged"] is True


def nested(depth: int) -> dict[str, Any]:
    body: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        body = {"k": body}
    return body


def test_bodies_at_the_envelope_depth_limit_splice_and_beyond_it_refuse_alike(
    replica: Replica,
) -> None:
    append_event(replica, "access.granted", nested(29), AT)  # level 4 + 28 = 32 levels
    spliced, classic = both(replica, 0)
    assert spliced == classic
    after = replica.state().last_seq
    append_event(replica, "access.granted", nested(30), AT)
    events, texts = pending_texts(replica, after=after)
    msg = Events(7, tuple(events))
    with pytest.raises(ValueError, match="nests deeper") as a:
        pack(msg, node=NODE, iat=1, kid="node-a", key=KEY)
    with pytest.raises(ValueError, match="nests deeper") as b:
        pack_events(msg, texts, node=NODE, iat=1, kid="node-a", key=KEY)  # type: ignore[arg-type]
    assert str(a.value) == str(b.value)


def test_pack_events_validates_the_message_as_pack_does(replica: Replica) -> None:
    """The link's own check of what it sends stays: an id that is not a UUIDv7
    is refused by both, with the same words."""
    append_event(replica, "access.granted", {"x": 1}, AT)
    events, texts = pending_texts(replica)
    bad = Events(7, (OutboxEvent(1, "not-a-uuid", "access.granted", AT, {"x": 1}),))
    with pytest.raises(Exception) as a:
        pack(bad, node=NODE, iat=1, kid="node-a", key=KEY)
    with pytest.raises(Exception) as b:
        pack_events(bad, texts, node=NODE, iat=1, kid="node-a", key=KEY)  # type: ignore[arg-type]
    assert type(a.value) is type(b.value) and str(a.value) == str(b.value)
    with pytest.raises(ValueError, match="body texts"):
        pack_events(Events(7, tuple(events)), [], node=NODE, iat=1, kid="node-a", key=KEY)


def test_the_link_splices_only_batches_whose_rows_are_all_marked(replica: Replica) -> None:
    """EventSender: all rows marked -> ``sign_events``; one unmarked row in the
    batch -> ``sign`` for the whole batch; the bytes are the same either way."""
    for i in range(3):
        append_event(replica, "access.granted", {"i": i, "ö": "å"}, AT)
    moment = Moment(AT, 0.0, True, ClockSource.NTP)
    calls: list[str] = []

    def sign(m: Message, at: Moment) -> Publish:
        calls.append("sign")
        o = pack(m, node=NODE, iat=at.unix, kid="node-a", key=KEY)
        return Publish(o.topic, o.payload, o.retain)

    def sign_events(m: Events, texts: Any, at: Moment) -> Publish:
        calls.append("spliced")
        o = pack_events(m, texts, node=NODE, iat=at.unix, kid="node-a", key=KEY)
        return Publish(o.topic, o.payload, o.retain)

    def send() -> bytes:
        window = Window(max_batches=4, resend_after=10.0, resend_max=300.0)
        (out,) = EventSender(replica, window, 256, sign, sign_events).pump(7, moment)
        return out.payload

    marked = send()
    replica.conn.execute(
        "UPDATE outbox SET body = ? WHERE seq = 2", [json.dumps({"ö": "å", "i": 1})]
    )
    unmarked = send()
    assert calls == ["spliced", "sign"]
    assert marked == unmarked


def _read(parse: Any, text: str) -> Any:
    try:
        return repr(parse(text))
    except ValueError as exc:
        return type(exc).__name__


@settings(max_examples=200, deadline=None)
@given(bodies)
def test_a_marked_body_reads_back_as_json_reads_it(body: dict[str, Any]) -> None:
    """The link parses marked rows with msgspec: the value (with its types) is
    the one ``json.loads`` gives for the same stored text, and a text msgspec
    refuses or that is no object gets the verdict of the json path."""
    from sync.protocol.envelope import canonical_text
    from sync.replica.outbox import CANONICAL_MARK, _body, _stored_body

    text = canonical_text(body) + CANONICAL_MARK
    assert _read(_stored_body, text) == _read(json.loads, text)
    for odd in ('{"a":NaN}\n', '{"a":1e400}\n', "[1]\n", '{"a":1,"a":2}\n', '{"a":\n', "{}"):
        assert _read(_stored_body, odd) == _read(_body, odd), odd

"""Relay board frames: table both ways, resynchronisation, fuzz, fail modes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from door_controller.outputs.relay import (
    RelayFrameParser,
    RelayGarbage,
    RelaySet,
    command,
    energise_for,
)

TABLE = [
    (RelaySet(1, True), bytes.fromhex("A00101A2")),
    (RelaySet(1, False), bytes.fromhex("A00100A1")),
    (RelaySet(2, True), bytes.fromhex("A00201A3")),
    (RelaySet(8, False), bytes.fromhex("A00800A8")),
]


@pytest.mark.parametrize(("frame", "wire"), TABLE)
def test_table_both_ways(frame: RelaySet, wire: bytes) -> None:
    assert command(frame.channel, frame.on) == wire
    assert RelayFrameParser().feed(wire) == [frame]
    p = RelayFrameParser()
    assert [e for b in wire for e in p.feed(bytes([b]))] == [frame]


@pytest.mark.parametrize("channel", [0, 9, -1])
def test_channel_range(channel: int) -> None:
    with pytest.raises(ValueError, match=r"relay channel must be 1\.\.8"):
        command(channel, True)


def test_bad_checksum_costs_one_byte_only() -> None:
    wire = bytes.fromhex("A00101FF") + command(3, True)
    events = RelayFrameParser().feed(wire)
    assert events[-1] == RelaySet(3, True)
    assert all(isinstance(e, RelayGarbage) for e in events[:-1])


def test_fail_modes() -> None:
    # fail-secure strike: energise to release
    assert energise_for(locked=True, fail_mode="secure") is False
    assert energise_for(locked=False, fail_mode="secure") is True
    # fail-safe maglock: energise to hold
    assert energise_for(locked=True, fail_mode="safe") is True
    assert energise_for(locked=False, fail_mode="safe") is False
    with pytest.raises(ValueError, match="fail mode"):
        energise_for(locked=True, fail_mode="open")


@given(
    st.binary(max_size=200),
    st.lists(st.integers(1, 8).flatmap(lambda c: st.tuples(st.just(c), st.booleans())), max_size=5),
)
def test_fuzz_valid_frames_survive_garbage_and_splits(
    junk: bytes, frames: list[tuple[int, bool]]
) -> None:
    wire = junk + b"".join(command(c, on) for c, on in frames)
    whole = [e for e in RelayFrameParser().feed(wire) if isinstance(e, RelaySet)]
    p = RelayFrameParser()
    single = [e for b in wire for e in p.feed(bytes([b])) if isinstance(e, RelaySet)]
    assert whole == single
    assert whole[len(whole) - len(frames) :] == [RelaySet(c, on) for c, on in frames]

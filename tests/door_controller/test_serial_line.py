"""Serial-line reader framings: table both ways, byte by byte, fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from door_controller.readers.serial_line import (
    CardFrame,
    FrameError,
    Framing,
    SerialEvent,
    SerialLineParser,
    encode,
)

TABLE: list[tuple[Framing, CardFrame, bytes]] = [
    (Framing.EM4100, CardFrame(bytes.fromhex("0A00BC1234"), 40), b"\x020A00BC123490\x03"),
    (Framing.EM4100, CardFrame(bytes(5), 40), b"\x0200000000000" + b"0\x03"),
    (Framing.HEX_LINE, CardFrame(bytes.fromhex("0ABCDE40"), 26), b"0ABCDE40/26\r\n"),
    (Framing.HEX_LINE, CardFrame(bytes.fromhex("04A2B3C4D5E680"), 56), b"04A2B3C4D5E680\r\n"),
    (Framing.HEX_LINE, CardFrame(b"\xff", 8), b"FF\r\n"),
]


@pytest.mark.parametrize(("framing", "frame", "wire"), TABLE)
def test_table_both_ways(framing: Framing, frame: CardFrame, wire: bytes) -> None:
    assert encode(framing, frame) == wire
    assert SerialLineParser(framing).feed(wire) == [frame]


@pytest.mark.parametrize(("framing", "frame", "wire"), TABLE)
def test_byte_by_byte(framing: Framing, frame: CardFrame, wire: bytes) -> None:
    p = SerialLineParser(framing)
    events: list[SerialEvent] = []
    for b in wire:
        events.extend(p.feed(bytes([b])))
    assert events == [frame]


BAD: list[tuple[Framing, bytes, str]] = [
    (Framing.EM4100, b"\x020A00BC12349D\x03", "checksum 9D does not match 90"),
    (Framing.EM4100, b"\x020A00BC1234\x03", "expected 12 hex digits between STX and ETX"),
    (Framing.EM4100, b"\x020A00BC1234ZZ\x03", "expected 12 hex digits between STX and ETX"),
    (Framing.EM4100, b"\x020A00BC12349C99\x03", "frame longer than 12 characters"),
    (Framing.EM4100, b"\x020A00\x020A00BC123490\x03", "frame restarted before ETX"),
    (
        Framing.HEX_LINE,
        b"0ABCDE4\r\n",
        "not an even count of 2-32 hex digits with an optional /BITS",
    ),
    (Framing.HEX_LINE, b"hello\n", "not an even count of 2-32 hex digits with an optional /BITS"),
    (Framing.HEX_LINE, b"0ABCDE40/99\r\n", "99 bits do not fit 4 bytes"),
    (Framing.HEX_LINE, b"0ABCDE40/24\r\n", "24 bits do not fit 4 bytes"),
    (Framing.HEX_LINE, b"0" * 50 + b"\r\n", "line longer than 40 characters"),
]


@pytest.mark.parametrize(("framing", "wire", "reason"), BAD)
def test_bad_frames_are_reported_not_raised(framing: Framing, wire: bytes, reason: str) -> None:
    events = SerialLineParser(framing).feed(wire)
    errors = [e for e in events if isinstance(e, FrameError)]
    assert errors and errors[0].reason == reason


def test_noise_then_valid_frame_resynchronises() -> None:
    p = SerialLineParser(Framing.EM4100)
    events = p.feed(b"\xff\xfe garbage" + TABLE[0][2])
    assert events == [FrameError("bytes outside a frame", b"\xff\xfe garbage"), TABLE[0][1]]


def test_encode_refuses_what_the_framing_cannot_carry() -> None:
    with pytest.raises(ValueError, match="exactly 5 bytes"):
        encode(Framing.EM4100, CardFrame(b"\x01\x02", 16))
    with pytest.raises(ValueError, match="1 to 16 bytes"):
        encode(Framing.HEX_LINE, CardFrame(bytes(17), 136))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    parts, last = [], 0
    for p in points:
        parts.append(data[last:p])
        last = p
    parts.append(data[last:])
    return parts


@given(
    st.sampled_from(list(Framing)),
    st.binary(max_size=300),
    st.lists(st.integers(0, 400), max_size=20),
)
def test_fuzz_never_raises_and_split_does_not_matter(
    framing: Framing, data: bytes, cuts: list[int]
) -> None:
    whole = SerialLineParser(framing).feed(data)
    p = SerialLineParser(framing)
    pieces: list[SerialEvent] = []
    for part in _split(data, cuts):
        pieces.extend(p.feed(part))
    assert pieces == whole
    for e in whole:
        if isinstance(e, CardFrame):
            assert (len(e.data) - 1) * 8 < e.bits <= len(e.data) * 8


@given(
    st.sampled_from(list(Framing)),
    st.binary(max_size=60),
    st.binary(min_size=5, max_size=5),
)
def test_valid_frame_after_any_garbage_is_found(framing: Framing, junk: bytes, card: bytes) -> None:
    frame = CardFrame(card, 40)
    # A terminator between garbage and the frame is what a real line gives us.
    sep = b"\r\n" if framing is Framing.HEX_LINE else b""
    events = SerialLineParser(framing).feed(junk + sep + encode(framing, frame))
    assert events[-1] == frame

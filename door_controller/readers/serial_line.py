"""Serial-line card readers: a sans-I/O parser for the framings we support.

Supported framings (docs/hardware.md):
- ``em4100`` — the 125 kHz UART modules (RDM6300 class), 9600 8N1:
  ``STX(0x02)`` + 10 ASCII hex digits (5 card bytes) + 2 ASCII hex digits of
  checksum (XOR of the 5 bytes) + ``ETX(0x03)``. Card id: the 5 bytes, 40 bits.
- ``hex-line`` — readers that type the card as hex text, one line per read:
  2–32 hex digits (an even count), an optional ``/BITS`` suffix, ended by CR,
  LF or CRLF. Without a suffix the bit count is 8 x the byte count.

Rules this module guarantees:
- ``feed`` takes any bytes, in any split, and never raises: a bad frame
  becomes ``FrameError`` and the parser resynchronises on the next frame start.
- Feeding a stream all at once or one byte at a time yields the same events
  (a run of stray bytes is reported when the next frame starts, or every 64).
- The buffer is bounded: a run of bytes longer than any valid frame is dropped
  and reported once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firmware_config.vocabulary import Framing as Framing  # node.toml names the framings

STX, ETX = 0x02, 0x03
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_LINE = re.compile(rb"^([0-9A-Fa-f]{2,32})(?:/(\d{1,3}))?$")
MAX_LINE = 40


@dataclass(frozen=True, slots=True)
class CardFrame:
    """A complete, checked card read."""

    data: bytes
    bits: int


@dataclass(frozen=True, slots=True)
class FrameError:
    """Bytes that did not form a valid frame (kept for the log, bounded)."""

    reason: str
    raw: bytes


SerialEvent = CardFrame | FrameError


class SerialLineParser:
    """Feed bytes, get card frames and frame errors."""

    def __init__(self, framing: Framing | str) -> None:
        self.framing = Framing(framing)
        self._buf = bytearray()
        self._in_frame = False
        self._noise = bytearray()  # a run of bytes outside any frame

    def feed(self, data: bytes) -> list[SerialEvent]:
        """Consume ``data``; return the events it completes, in order."""
        out: list[SerialEvent] = []
        for byte in data:
            if self.framing is Framing.EM4100:
                self._feed_em4100(byte, out)
            else:
                self._feed_line(byte, out)
        return out

    def _feed_em4100(self, byte: int, out: list[SerialEvent]) -> None:
        if byte == STX:
            self._flush_noise(out)
            if self._in_frame and self._buf:
                out.append(FrameError("frame restarted before ETX", bytes(self._buf)))
            self._buf.clear()
            self._in_frame = True
            return
        if not self._in_frame:
            if byte not in (0x0D, 0x0A):
                self._noise.append(byte)
                if len(self._noise) >= 64:
                    self._flush_noise(out)
            return
        if byte == ETX:
            out.append(_em4100_frame(bytes(self._buf)))
            self._buf.clear()
            self._in_frame = False
            return
        self._buf.append(byte)
        if len(self._buf) > 12:
            out.append(FrameError("frame longer than 12 characters", bytes(self._buf)))
            self._buf.clear()
            self._in_frame = False

    def _feed_line(self, byte: int, out: list[SerialEvent]) -> None:
        if byte in (0x0D, 0x0A):
            if self._buf:
                out.append(_hex_line(bytes(self._buf)))
            self._buf.clear()
            self._in_frame = False
            return
        if self._in_frame:  # discarding an overlong line until its end
            return
        self._buf.append(byte)
        if len(self._buf) > MAX_LINE:
            out.append(FrameError(f"line longer than {MAX_LINE} characters", bytes(self._buf)))
            self._buf.clear()
            self._in_frame = True

    def _flush_noise(self, out: list[SerialEvent]) -> None:
        if self._noise:
            out.append(FrameError("bytes outside a frame", bytes(self._noise)))
            self._noise.clear()


def _em4100_frame(body: bytes) -> SerialEvent:
    if len(body) != 12 or not all(b in _HEX for b in body):
        return FrameError("expected 12 hex digits between STX and ETX", body)
    raw = bytes.fromhex(body.decode("ascii"))
    data, check = raw[:5], raw[5]
    x = 0
    for b in data:
        x ^= b
    if x != check:
        return FrameError(f"checksum {check:02X} does not match {x:02X}", body)
    return CardFrame(data, 40)


def _hex_line(line: bytes) -> SerialEvent:
    m = _LINE.match(line)
    if m is None or len(m.group(1)) % 2:
        return FrameError("not an even count of 2-32 hex digits with an optional /BITS", line)
    data = bytes.fromhex(m.group(1).decode("ascii"))
    bits = int(m.group(2)) if m.group(2) else 8 * len(data)
    if not (len(data) - 1) * 8 < bits <= len(data) * 8:
        return FrameError(f"{bits} bits do not fit {len(data)} bytes", line)
    return CardFrame(data, bits)


def encode(framing: Framing | str, frame: CardFrame) -> bytes:
    """The bytes a reader of ``framing`` sends for ``frame`` (for fakes and tests).

    Raises ``ValueError`` when the framing cannot carry the frame.
    """
    framing = Framing(framing)
    if framing is Framing.EM4100:
        if len(frame.data) != 5 or frame.bits != 40:
            raise ValueError("em4100 carries exactly 5 bytes (40 bits)")
        x = 0
        for b in frame.data:
            x ^= b
        return bytes([STX]) + (frame.data.hex() + f"{x:02x}").upper().encode() + bytes([ETX])
    if not 1 <= len(frame.data) <= 16:
        raise ValueError("hex-line carries 1 to 16 bytes")
    suffix = "" if frame.bits == 8 * len(frame.data) else f"/{frame.bits}"
    return (frame.data.hex().upper() + suffix + "\r\n").encode()

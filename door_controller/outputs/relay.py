"""USB serial relay boards (the LCUS / CH340 family): sans-I/O frames.

The board takes 4-byte commands at 9600 8N1 (docs/hardware.md):
``A0 <channel 1..8> <state 00=off|01=on> <checksum = (A0 + channel + state) & FF>``.
It answers nothing, so the driver cannot read a relay back: it re-sends the
whole wanted state on start and on every change (commands are idempotent).

Rules this module guarantees:
- ``command`` only builds frames for channels 1..8 and raises ``ValueError``
  otherwise; ``RelayFrameParser`` (used by the fake board) never raises and
  reports every malformed byte run.
- Energised means "on": a fail-secure lock is released by energising its relay,
  a fail-safe (maglock) lock is released by de-energising it.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = 0xA0
MAX_CHANNEL = 8


def command(channel: int, on: bool) -> bytes:
    """The frame that switches ``channel`` (1..8) on or off."""
    if not 1 <= channel <= MAX_CHANNEL:
        raise ValueError(f"relay channel must be 1..{MAX_CHANNEL}, not {channel}")
    state = 1 if on else 0
    return bytes([HEADER, channel, state, (HEADER + channel + state) & 0xFF])


def energise_for(locked: bool, fail_mode: str) -> bool:
    """Relay state that holds a lock ``locked`` for a ``fail_mode`` lock.

    fail-secure (``secure``): locked without power, so released = energised.
    fail-safe (``safe``): released without power, so locked = energised.
    """
    if fail_mode not in ("secure", "safe"):
        raise ValueError(f"fail mode must be secure or safe, not {fail_mode!r}")
    return locked if fail_mode == "safe" else not locked


@dataclass(frozen=True, slots=True)
class RelaySet:
    channel: int
    on: bool


@dataclass(frozen=True, slots=True)
class RelayGarbage:
    raw: bytes


class RelayFrameParser:
    """Parses the board's input side (what a fake board or a sniffer sees).

    A bad frame costs only its first byte: the parser rescans from the next
    byte, so a valid frame right after garbage is never lost. Stray bytes are
    reported as one ``RelayGarbage`` per run, whatever the split of the input.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._junk = bytearray()

    def feed(self, data: bytes) -> list[RelaySet | RelayGarbage]:
        out: list[RelaySet | RelayGarbage] = []
        self._buf.extend(data)
        while self._buf:
            if len(self._junk) >= 64:
                out.append(RelayGarbage(bytes(self._junk)))
                self._junk.clear()
            if self._buf[0] != HEADER:
                self._junk.append(self._buf.pop(0))
                continue
            if len(self._buf) < 4:
                break
            h, ch, st, ck = self._buf[:4]
            if 1 <= ch <= MAX_CHANNEL and st in (0, 1) and ck == (h + ch + st) & 0xFF:
                if self._junk:
                    out.append(RelayGarbage(bytes(self._junk)))
                    self._junk.clear()
                out.append(RelaySet(ch, st == 1))
                del self._buf[:4]
            else:
                self._junk.append(self._buf.pop(0))
        return out

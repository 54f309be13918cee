"""What readers report, what they are told to show, and the keypad PIN collector. Pure.

Rules this module guarantees:
- Every reader event and feedback command is a frozen dataclass that checks its
  fields when built (``ValueError``); wire codes are ``IntEnum`` values of the
  OSDP spec (LED colours: SIA OSDP 2.2 §6.10, ``osdp_LED`` "Color values").
- ``KeyPressed.key`` is one of ``0``-``9``, ``*``, ``#``; ``CardPresented.bits``
  fits ``data`` exactly (``ceil(bits / 8) == len(data)``).
- Feedback timings are whole multiples of 100 ms (the OSDP time unit), so a
  signal survives the trip to a reader and back unchanged.
- ``PinEntry`` never raises on any key or time: digits accumulate (at most
  ``max_digits``), ``#`` submits, ``*`` clears, a gap of ``timeout_s`` between
  keys abandons. A submitted PIN is 1..``max_digits`` ASCII digits.
- ``ReaderPort`` is what the daemon sees of any reader bus; ``poll`` never
  blocks longer than its timeout and ``signal`` never blocks on the hardware.
Nothing here reads a clock: time is passed in (monotonic seconds).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

KEYS = frozenset("0123456789*#")
MAX_PIN_DIGITS = 12
TIME_UNIT_MS = 100  # OSDP LED and buzzer times count tenths of a second


class ReaderError(Exception):
    """A reader bus could not be opened or set up (the cause is chained)."""


# --- what readers report ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardPresented:
    """A card read: the raw bits, left-aligned in ``data`` (Wiegand order)."""

    reader: str
    data: bytes
    bits: int

    def __post_init__(self) -> None:
        if not self.data or self.bits <= 0 or (self.bits + 7) // 8 != len(self.data):
            raise ValueError(f"{self.bits} bits do not fit {len(self.data)} bytes of card data")


@dataclass(frozen=True, slots=True)
class KeyPressed:
    reader: str
    key: str  # '0'-'9', '*' or '#'

    def __post_init__(self) -> None:
        if self.key not in KEYS or len(self.key) != 1:
            raise ValueError(f"not a keypad key: {self.key!r}")


@dataclass(frozen=True, slots=True)
class ReaderOnline:
    """The reader answers, over a verified secure channel where the bus has one."""

    reader: str


@dataclass(frozen=True, slots=True)
class ReaderOffline:
    reader: str
    reason: str  # e.g. "link lost", "no response", "secure channel failed"


@dataclass(frozen=True, slots=True)
class ReaderTamper:
    reader: str
    active: bool


@dataclass(frozen=True, slots=True)
class InputChanged:
    """A contact input on the reader changed (index from 0, as in the config)."""

    reader: str
    index: int
    active: bool


ReaderEvent = (
    CardPresented | KeyPressed | ReaderOnline | ReaderOffline | ReaderTamper | InputChanged
)


# --- what readers are told to show ----------------------------------------------


class LedColor(enum.IntEnum):
    """OSDP ``osdp_LED`` colour codes (SIA OSDP 2.2 §6.10)."""

    OFF = 0  # "black"
    RED = 1
    GREEN = 2
    AMBER = 3


def _check_ms(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high or value % TIME_UNIT_MS:
        raise ValueError(f"{name}={value}: must be a multiple of 100 in {low}..{high} ms")


@dataclass(frozen=True, slots=True)
class LedSignal:
    """Show ``color`` for ``duration_ms``, then fall back to the reader's resting state.

    ``off_ms == 0`` is steady light; otherwise the LED flashes ``on_ms`` on,
    ``off_ms`` off. OSDP: a temporary LED state (control code 2) with its timer.
    """

    color: LedColor
    on_ms: int = 500
    off_ms: int = 0
    duration_ms: int = 3000

    def __post_init__(self) -> None:
        LedColor(self.color)
        _check_ms("on_ms", self.on_ms, TIME_UNIT_MS, 255 * TIME_UNIT_MS)
        _check_ms("off_ms", self.off_ms, 0, 255 * TIME_UNIT_MS)
        _check_ms("duration_ms", self.duration_ms, TIME_UNIT_MS, 0xFFFF * TIME_UNIT_MS)


@dataclass(frozen=True, slots=True)
class BuzzerSignal:
    """Beep ``count`` times (1..255): ``on_ms`` tone, ``off_ms`` silence. Never continuous."""

    on_ms: int = 200
    off_ms: int = 100
    count: int = 1

    def __post_init__(self) -> None:
        _check_ms("on_ms", self.on_ms, TIME_UNIT_MS, 255 * TIME_UNIT_MS)
        _check_ms("off_ms", self.off_ms, 0, 255 * TIME_UNIT_MS)
        if not 1 <= self.count <= 255:
            raise ValueError(f"count={self.count}: must be 1..255 (0 would beep forever)")


Feedback = LedSignal | BuzzerSignal

GRANTED = (LedSignal(LedColor.GREEN, duration_ms=3000), BuzzerSignal(on_ms=200, count=1))
DENIED = (
    LedSignal(LedColor.RED, on_ms=200, off_ms=200, duration_ms=2000),
    BuzzerSignal(on_ms=100, off_ms=100, count=3),
)


class ReaderPort(Protocol):
    """A bus of readers as the door controller daemon sees it."""

    def start(self) -> None:
        """Open the bus and start its threads; raises ``ReaderError``."""

    def stop(self) -> None:
        """Stop the threads and close the bus; idempotent."""

    def poll(self, timeout: float) -> list[ReaderEvent]:
        """Events since the last call, in order; waits up to ``timeout`` s for the first."""
        ...

    def signal(self, reader: str, feedback: Feedback) -> bool:
        """Queue ``feedback`` for ``reader``; False if it cannot be queued now (never blocks)."""
        ...


# --- keypad PIN entry ---------------------------------------------------------------


class AbandonReason(enum.StrEnum):
    TIMEOUT = "timeout"  # no key for timeout_s
    CLEARED = "cleared"  # '*' with digits entered
    TOO_LONG = "too_long"  # more than max_digits digits


@dataclass(frozen=True, slots=True)
class PinSubmitted:
    pin: str

    def __repr__(self) -> str:  # a PIN never reaches a log through repr
        return f"PinSubmitted(pin=<{len(self.pin)} digits>)"


@dataclass(frozen=True, slots=True)
class PinAbandoned:
    reason: AbandonReason


@dataclass(frozen=True, slots=True)
class Pending:
    digits: int  # how many digits are entered so far (never the digits)


PinResult = PinSubmitted | PinAbandoned | Pending


class PinEntry:
    """Collects one reader's keypad presses into a PIN.

    ``feed(key, now)`` returns what the key did:
    - a digit adds to the entry: ``Pending(n)``; the 13th digit abandons
      (``TOO_LONG``) and the entry starts empty again;
    - ``#`` submits the digits (``PinSubmitted``); with none it is ignored;
    - ``*`` clears the digits: ``PinAbandoned(CLEARED)``, or ``Pending(0)`` if
      there were none; an open entry stays open (its timeout restarts);
    - a key arriving ``timeout_s`` or more after the previous key (or after
      ``open``) first drops the stale entry: the result is
      ``PinAbandoned(TIMEOUT)`` and the key then counts towards a fresh entry;
    - any other key is ignored.
    ``expire(now)`` reports the same timeout without a key; call it every tick.
    """

    def __init__(self, timeout_s: float = 10.0, max_digits: int = MAX_PIN_DIGITS) -> None:
        if timeout_s <= 0 or not 1 <= max_digits <= MAX_PIN_DIGITS:
            raise ValueError("timeout_s must be > 0 and max_digits 1..12")
        self.timeout_s = timeout_s
        self.max_digits = max_digits
        self._digits: list[str] = []
        self._since: float | None = None  # time of the last key, None when idle

    @property
    def digits(self) -> int:
        return len(self._digits)

    @property
    def active(self) -> bool:
        """An entry is open: keys were pressed (or ``open`` called) and not finished."""
        return self._since is not None

    def open(self, now: float) -> None:
        """Start the timeout with no digits, e.g. when a card asks for its PIN."""
        self._digits.clear()
        self._since = now

    def reset(self) -> None:
        self._digits.clear()
        self._since = None

    def expire(self, now: float) -> PinAbandoned | None:
        """Abandon an open entry whose last key is ``timeout_s`` or more ago."""
        if self._since is not None and now - self._since >= self.timeout_s:
            self.reset()
            return PinAbandoned(AbandonReason.TIMEOUT)
        return None

    def feed(self, key: str, now: float) -> PinResult:
        """Apply one key pressed at ``now``; see the class docstring."""
        stale = self.expire(now)
        result = self._apply(key, now)
        return stale or result

    def _apply(self, key: str, now: float) -> PinResult:
        if key in "0123456789" and len(key) == 1:
            if len(self._digits) == self.max_digits:
                self.reset()
                return PinAbandoned(AbandonReason.TOO_LONG)
            self._digits.append(key)
            self._since = now
            return Pending(len(self._digits))
        if key == "#":
            if not self._digits:
                return Pending(0)
            pin = "".join(self._digits)
            self.reset()
            return PinSubmitted(pin)
        if key == "*":
            had = bool(self._digits)
            self._digits.clear()
            if self._since is not None:
                self._since = now  # an open entry stays open for a fresh try
            return PinAbandoned(AbandonReason.CLEARED) if had else Pending(0)
        return Pending(len(self._digits))

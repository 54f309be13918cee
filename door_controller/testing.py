"""Fakes of our own ports, for tests and the simulator. They speak real bytes
where the real port does (see ``outputs.relay`` for the relay board)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .outputs.relay import RelayFrameParser, RelaySet


@dataclass(slots=True)
class FakeClock:
    """A clock that moves only when told to: wall and monotonic time together."""

    wall: datetime
    mono: float = 1000.0
    is_trusted: bool = True

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def trusted(self) -> bool:
        return self.is_trusted

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass(slots=True)
class FakeRelayBoard:
    """The input side of an LCUS relay board: parses the bytes it is sent and
    keeps the channel states, exactly as the hardware would act on them."""

    channels: int = 8
    state: dict[int, bool] = field(default_factory=dict)
    garbage: list[bytes] = field(default_factory=list)
    _parser: RelayFrameParser = field(default_factory=RelayFrameParser)

    def receive(self, data: bytes) -> None:
        for ev in self._parser.feed(data):
            if isinstance(ev, RelaySet) and ev.channel <= self.channels:
                self.state[ev.channel] = ev.on
            elif not isinstance(ev, RelaySet):
                self.garbage.append(ev.raw)

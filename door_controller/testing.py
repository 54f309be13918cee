"""Fakes of our own ports, for tests and the simulator. They speak real bytes
where the real port does (see ``outputs.relay`` for the relay board)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sync.replica import card_digest, code_digest, format_instant, pin_digest

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


def site_ops(key: bytes, t0: datetime) -> list[dict[str, object]]:
    """A small facility as ``changes`` ops: hall door ``d1``; leader ``p1`` of
    ``ik`` with card ``0ABCDE40/26`` and PIN 4321; staff ``s1`` with card
    ``11223344/32`` (Mon-Fri 06-22); bookings ``b1`` [t0, t0+1h) and ``b2``
    [t0+2h, t0+3h) of ``ik``; visitor code 246810 for ``b1``; 3 PIN attempts."""

    def up(entity: str, data: dict[str, object]) -> dict[str, object]:
        return {"op": "upsert", "entity": entity, "id": data["id"], "data": data}

    iso = format_instant
    return [
        up("facility", {"id": "f1", "name": "Hallen"}),
        up("resource", {"id": "hall", "name": "Hall", "kind": "hall"}),
        up("door", {"id": "d1", "name": "Entré", "resources": ["hall"], "unlock_seconds": 5}),
        up("holder", {"id": "ik", "kind": "association", "display_name": "IK Test"}),
        up("holder", {"id": "p1", "kind": "person", "display_name": "Anna", "member_of": ["ik"]}),
        up("holder", {"id": "s1", "kind": "staff", "display_name": "Vaktmästare"}),
        up(
            "credential",
            {"id": "c1", "holder": "p1", "kind": "card", "digest": card_digest(key, "0ABCDE40/26")},
        ),
        up(
            "credential",
            {"id": "c1p", "holder": "p1", "kind": "pin", "digest": pin_digest(key, "p1", "4321")},
        ),
        up(
            "credential",
            {"id": "c9", "holder": "s1", "kind": "card", "digest": card_digest(key, "11223344/32")},
        ),
        up(
            "grant",
            {
                "id": "g1",
                "holder": "s1",
                "doors": ["d1"],
                "windows": [{"days": [1, 2, 3, 4, 5], "from": "06:00", "to": "22:00"}],
            },
        ),
        up(
            "booking",
            {
                "id": "b1",
                "resources": ["hall"],
                "start": iso(t0),
                "end": iso(t0 + timedelta(hours=1)),
                "holder": "ik",
            },
        ),
        up(
            "booking",
            {
                "id": "b2",
                "resources": ["hall"],
                "start": iso(t0 + timedelta(hours=2)),
                "end": iso(t0 + timedelta(hours=3)),
                "holder": "ik",
            },
        ),
        up(
            "credential",
            {
                "id": "v1",
                "kind": "code",
                "booking": "b1",
                "digest": code_digest(key, "f1", "246810"),
            },
        ),
        up("policy", {"id": "default", "pin_max_attempts": 3, "pin_lockout_seconds": 60}),
    ]

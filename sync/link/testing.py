"""Test helpers that ship with the package (house style 5): a fake clock and a
harness that drives a ``LinkCore`` with byte-level messages signed by
``sync.protocol.testing`` keys. Never use these keys outside tests.

- ``FakeClock``: ``now()`` gives a ``Moment``; ``advance(seconds)`` moves wall
  and monotonic time together.
- ``Harness``: a core on a replica, a central signing key; ``connect()``,
  ``deliver(msg)`` (signs it as central, returns the core's outputs),
  ``tick(seconds)``, and ``up(outputs)``: the node's publishes decoded with
  the node's public key, as central's ``check`` would.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.protocol import Accepted, ClockSource, Direction, Message, check, pack
from sync.protocol.testing import private_key, ring
from sync.replica import Replica

from .core import LinkCore, LinkSettings
from .events import (
    Connected,
    Disconnected,
    Input,
    MessageIn,
    Moment,
    Output,
    Publish,
    Received,
    Tick,
)

NODE = "test.hall.n1"
NODE_KID = "test.hall.n1-testkey"
CENTRAL_KID = "central-test"
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    mono: float = 1000.0
    wall: datetime = T0
    trusted: bool = True
    source: ClockSource = ClockSource.NTP

    def now(self) -> Moment:
        return Moment(self.wall, self.mono, self.trusted, self.source)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def step_wall(self, seconds: float) -> None:
        """Wall time jumps (an NTP step); monotonic time does not."""
        self.wall += timedelta(seconds=seconds)


@dataclass
class Harness:
    rep: Replica
    settings: dict[str, Any] = field(default_factory=dict)
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.core = LinkCore(
            self.rep,
            LinkSettings(
                node=NODE,
                kid=NODE_KID,
                key=private_key(NODE_KID),
                central_keys=ring(CENTRAL_KID),
                software="hallvakt/test",
                boot_id="boot-1",
                **self.settings,
            ),
        )
        self._refs = itertools.count(1)

    def feed(self, event: Input) -> list[Output]:
        return self.core.handle(event, self.clock.now())

    def connect(self) -> list[Output]:
        return self.feed(Connected())

    def disconnect(self) -> list[Output]:
        return self.feed(Disconnected("test"))

    def tick(self, seconds: float = 0.0) -> list[Output]:
        self.clock.advance(seconds)
        return self.feed(Tick())

    def sign(
        self,
        msg: Message,
        *,
        node: str = NODE,
        kid: str = CENTRAL_KID,
        key_name: str | None = None,
        iat: int | None = None,
    ) -> tuple[str, bytes]:
        """``msg`` as central would publish it (topic, token)."""
        at = self.clock.now().unix if iat is None else iat
        o = pack(msg, node=node, iat=at, kid=kid, key=private_key(key_name or kid))
        return o.topic, o.payload

    def deliver(
        self, msg: Message | tuple[str, bytes], *, dup: bool = False, retained: bool = False
    ) -> list[Output]:
        """Feed one received message (a ``Message`` is signed as central first)."""
        topic, payload = msg if isinstance(msg, tuple) else self.sign(msg)
        return self.feed(MessageIn(topic, payload, next(self._refs), dup, retained))

    def deliver_together(self, msgs: Sequence[Message]) -> list[Output]:
        """Feed several received messages at once (``Received``), signed as central."""
        got = [MessageIn(*self.sign(m), next(self._refs)) for m in msgs]
        return self.feed(Received(tuple(got)))

    def up(self, outputs: Sequence[Output]) -> list[Message]:
        """The messages the node published, checked as central checks them."""
        keys = ring(NODE_KID)
        out: list[Message] = []
        for o in outputs:
            if isinstance(o, Publish):
                res = check(
                    o.topic,
                    o.payload,
                    lambda node: keys if node == NODE else {},
                    now=None,
                    clock_trusted=False,
                    expect_direction=Direction.UP,
                )
                assert isinstance(res, Accepted), res
                out.append(res.message)
        return out

"""Hypothesis: the link's core loses no event, whatever the network does.

A node (``LinkCore`` on a real database) and a model of central that stores
events unique on seq and acks the highest contiguous seq it holds. Between
them, messages in both directions are delivered, lost, duplicated or delayed,
the connection drops and comes back, time jumps, and new events are written.
After every step: the outbox holds exactly the events above the highest
``through`` the node has received; no batch sent after an ack holds a seq at or
below it; every seq central holds has the id the outbox gave it; at most
``max_batches`` batches are in flight. At the end, once the network behaves,
central holds every event exactly once and the outbox is empty.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync.link import OutboxGrew
from sync.link.testing import T0, Harness
from sync.protocol import Ack, Events
from sync.replica import Replica, append_event, backlog, pending_events

MAX_BATCHES = 2

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 12)),
        st.tuples(st.just("up"), st.integers(0, 8), st.booleans()),
        st.tuples(st.just("ack")),
        st.tuples(st.just("down"), st.integers(0, 8), st.sampled_from(["deliver", "drop", "dup"])),
        st.tuples(st.just("time"), st.sampled_from([0.5, 5.0, 10.0, 30.0, 301.0])),
        st.tuples(st.just("disconnect")),
        st.tuples(st.just("connect")),
    ),
    max_size=60,
)


class World:
    def __init__(self, rep: Replica) -> None:
        self.node = Harness(
            rep, {"batch_events": 3, "max_batches": MAX_BATCHES, "resend_after": 10.0}
        )
        self.rep = rep
        self.ids: dict[int, str] = {}  # what the outbox recorded
        self.up: list[Events] = []  # in transit to central
        self.down: list[Ack] = []  # in transit to the node
        self.store: dict[int, str] = {}  # central: unique on (epoch, seq)
        self.delivered_through = 0

    def out(self, outputs: list[Any]) -> None:
        acked = self.rep.state().acked_through
        sent = [m for m in self.node.up(outputs) if isinstance(m, Events)]
        for m in sent:
            assert m.epoch == self.node.core.epoch
            for e in m.events:
                assert e.seq > acked, f"seq {e.seq} sent after an ack through {acked}"
                assert self.ids[e.seq] == e.id
        self.up += sent
        assert len(self.node.core.window.flights) <= MAX_BATCHES

    def step(self, op: tuple[Any, ...]) -> None:
        n = self.node
        match op:
            case ("append", k):
                for _ in range(k):
                    ev = append_event(self.rep, "door.opened", {"door": "main"}, T0)
                    self.ids[ev.seq] = ev.id
                self.out(n.feed(OutboxGrew()))
            case ("up", i, deliver) if self.up:
                m = self.up.pop(i % len(self.up))
                if deliver:
                    for e in m.events:
                        assert self.store.setdefault(e.seq, e.id) == e.id
            case ("ack",):
                self.down.append(Ack(n.core.epoch, self.central_through(), {}))
            case ("down", i, what) if self.down and n.core.connected:
                m = self.down[i % len(self.down)]
                if what != "dup":
                    self.down.remove(m)
                if what != "drop":
                    self.delivered_through = max(self.delivered_through, m.through)
                    self.out(n.deliver(m))
            case ("time", seconds):
                self.out(n.tick(seconds))
            case ("disconnect",) if n.core.connected:
                self.out(n.disconnect())
            case ("connect",) if not n.core.connected:
                self.out(n.connect())
            case _:
                pass
        self.check()

    def central_through(self) -> int:
        through = 0
        while through + 1 in self.store:
            through += 1
        return through

    def check(self) -> None:
        st_ = self.rep.state()
        assert st_.acked_through == self.delivered_through
        pending = [e.seq for e in pending_events(self.rep, limit=10_000)]
        assert pending == list(range(st_.acked_through + 1, st_.last_seq + 1))

    def settle(self) -> None:
        n = self.node
        if not n.core.connected:
            self.out(n.connect())
        for _ in range(100):
            while self.up:
                self.step(("up", 0, True))
            self.step(("ack",))
            while self.down:
                self.step(("down", 0, "deliver"))
            if backlog(self.rep) == 0:
                return
            self.step(("time", 301.0))
        raise AssertionError("the outbox did not drain")


@given(OPS)
def test_no_event_is_lost_or_sent_below_an_ack(ops: list[tuple[Any, ...]]) -> None:
    rep = Replica.open(":memory:")
    try:
        world = World(rep)
        for op in ops:
            world.step(op)
        world.settle()
        assert world.store == world.ids
        assert backlog(rep) == 0
        assert rep.state().acked_through == rep.state().last_seq
    finally:
        rep.close()

"""The sync link's core (sync/link/core.py) with a fake clock and signed byte-level messages.

What the core guarantees and these tests show: hello first on every connect;
a bounded window of batches, split under 256 KiB; resend after a timeout and
from the first unacknowledged seq after a reconnect; acks delete only through
``through``; heads, changes, snapshots and commands move the replica only as
PROTOCOL.md §6 allows, and every dropped message leaves the replica as it was
with a ``security.rejected`` event or a quarantined copy (§4); a received
message is acknowledged only after its effect is committed.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from sync.link import (
    AckInbound,
    Connected,
    Disconnected,
    MessageIn,
    OutboxGrew,
    Output,
    Publish,
    PublishRefused,
    Subscribe,
    Wakeup,
)
from sync.link import core as link_core
from sync.link import downstream as link_downstream
from sync.link.core import MAX_WINDOW
from sync.link.downstream import MESSAGE_RECHECK_S, UNTRUSTED_UNLOCK
from sync.link.inbound import SECURITY_EVENTS_PER_MIN
from sync.link.testing import CENTRAL_KID, NODE, T0, Harness
from sync.protocol import (
    Ack,
    Audience,
    Changes,
    ClockSource,
    Cmd,
    Command,
    Cursor,
    Events,
    Head,
    Hello,
    KioskText,
    Snapshot,
    State,
    Status,
    Unlock,
    Want,
    node_subscriptions,
    sign,
)
from sync.protocol.envelope import b64url_encode
from sync.protocol.testing import private_key
from sync.replica import (
    EXPIRED_UNSHOWN,
    ChangeBatch,
    OutboxEvent,
    Replica,
    SnapshotPart,
    Verdict,
    append_event,
    backlog,
    last_command_seq,
    pending_commands,
    pending_events,
    quarantine_count,
)

Dump = dict[str, list[tuple[Any, ...]]]


def add_events(rep: Replica, n: int, body: dict[str, Any] | None = None) -> None:
    at = T0
    for i in range(n):
        append_event(rep, "door.opened", body or {"door": "main", "i": i}, at)


def seqs(msgs: Sequence[Any]) -> list[tuple[int, int]]:
    """(first, last) of every events batch among ``msgs``."""
    return [(m.events[0].seq, m.events[-1].seq) for m in msgs if isinstance(m, Events)]


def security_events(rep: Replica) -> list[OutboxEvent]:
    return [e for e in pending_events(rep, limit=10_000) if e.type == "security.rejected"]


def changes(site: Any, base: int, rev: int, *ops: Any) -> Changes:
    return Changes(ChangeBatch.from_wire(site.changes(base, rev, *ops)))


@pytest.fixture
def node(replica: Replica) -> Harness:
    return Harness(replica)


@pytest.fixture
def small(replica: Replica) -> Harness:
    return Harness(replica, {"batch_events": 10, "max_batches": 3})


# --- connect ---------------------------------------------------------------------------


def test_hello_first_after_connect_then_status_then_events(node: Harness) -> None:
    add_events(node.rep, 3)
    out = node.connect()
    assert out[0] == Subscribe(tuple(node_subscriptions(NODE)))
    msgs = node.up(out)
    st = node.rep.state()
    assert msgs[0] == Hello(
        epoch=st.epoch,
        boot_id="boot-1",
        applied_rev=0,
        outbox=msgs[0].outbox,
        software="hallvakt/test",
        clock=msgs[0].clock,
    )
    assert isinstance(msgs[0], Hello)
    assert (msgs[0].outbox.first_unacked, msgs[0].outbox.last) == (1, 3)
    assert (msgs[0].clock.trusted, msgs[0].clock.source) == (True, ClockSource.NTP)
    assert msgs[1] == Status(State.ONLINE, st.epoch)
    publishes = [o for o in out if isinstance(o, Publish)]
    assert publishes[1].retain and not publishes[0].retain
    assert seqs(msgs) == [(1, 3)]


def test_hello_is_repeated_until_central_answers(node: Harness) -> None:
    """A hello sent before central subscribed (a broker restart loses shared
    subscriptions) reaches nobody: say it again, 10 s, 20 s, ... until any
    verified message from central arrives."""
    node.connect()
    hellos = lambda out: [m for m in node.up(out) if isinstance(m, Hello)]  # noqa: E731
    assert hellos(node.tick(9.9)) == []
    assert len(hellos(node.tick(0.1))) == 1
    assert hellos(node.tick(19.9)) == []
    assert len(hellos(node.tick(0.1))) == 1  # the wait doubled
    node.deliver(Ack(node.core.epoch, 0, {}))  # central speaks
    assert hellos(node.tick(600)) == []


def test_every_connect_says_hello_first_with_the_current_outbox(node: Harness) -> None:
    add_events(node.rep, 5)
    node.connect()
    node.deliver(Ack(node.core.epoch, 2, {}))
    node.disconnect()
    node.clock.trusted = False
    node.clock.source = ClockSource.NONE
    msgs = node.up(node.connect())
    assert isinstance(msgs[0], Hello)
    assert (msgs[0].outbox.first_unacked, msgs[0].outbox.last) == (3, 5)
    assert (msgs[0].clock.trusted, msgs[0].clock.source) == (False, ClockSource.NONE)
    assert seqs(msgs) == [(3, 5)]


def test_nothing_is_published_while_disconnected(node: Harness) -> None:
    add_events(node.rep, 3)
    assert node.feed(OutboxGrew()) == []  # no timers either
    assert node.tick(100) == []


# --- events up: batches, window, size ------------------------------------------------------


def test_batches_are_bounded_and_the_window_refills_on_ack(small: Harness) -> None:
    add_events(small.rep, 100)
    assert seqs(small.up(small.connect())) == [(1, 10), (11, 20), (21, 30)]
    assert small.up(small.feed(OutboxGrew())) == []  # the window is full
    assert seqs(small.up(small.deliver(Ack(small.core.epoch, 10, {})))) == [(31, 40)]
    # A partial ack frees the batch it completes, trims the next one.
    assert seqs(small.up(small.deliver(Ack(small.core.epoch, 25, {})))) == [(41, 50)]
    assert [(f.first, f.last) for f in small.core.window.flights] == [(26, 30), (31, 40), (41, 50)]


def test_new_events_go_up_when_the_outbox_grows(small: Harness) -> None:
    small.connect()
    add_events(small.rep, 4)
    assert seqs(small.up(small.feed(OutboxGrew()))) == [(1, 4)]
    add_events(small.rep, 2)
    assert seqs(small.up(small.feed(OutboxGrew()))) == [(5, 6)]


def test_a_batch_above_256_kib_is_split(node: Harness) -> None:
    add_events(node.rep, 20, {"blob": "x" * 30_000})
    out = node.connect()
    ranges = seqs(node.up(out))
    assert ranges[0][0] == 1 and ranges[-1][1] == 20
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert len(ranges) > 2
    assert all(len(o.payload) <= 256 * 1024 for o in out if isinstance(o, Publish))


def test_an_event_too_large_alone_travels_with_its_body_truncated(node: Harness) -> None:
    add_events(node.rep, 1, {"blob": "x" * 300_000})
    add_events(node.rep, 1)
    batches = [m for m in node.up(node.connect()) if isinstance(m, Events)]
    assert batches[0].events[0].body == {"truncated": True, "bytes": 300_012}
    assert batches[1].events[0].seq == 2


# --- resend ---------------------------------------------------------------------------------


def test_resend_after_timeout_doubles_and_ack_progress_defers_it(small: Harness) -> None:
    add_events(small.rep, 15)
    small.connect()
    small.deliver(Head(0, 0, small.clock.now().unix + 3600))  # central answers at once
    assert small.core.next_wakeup() == small.clock.mono + 10
    assert seqs(small.up(small.tick(9.9))) == []
    assert seqs(small.up(small.tick(0.1))) == [(1, 10), (11, 15)]
    assert seqs(small.up(small.tick(19.9))) == []
    assert seqs(small.up(small.tick(0.1))) == [(1, 10), (11, 15)]  # 20 s the second time
    small.tick(35)
    small.deliver(Ack(small.core.epoch, 5, {}))  # progress: the rest waits 10 s more
    assert seqs(small.up(small.tick(9.9))) == []
    assert seqs(small.up(small.tick(0.1))) == [(6, 10), (11, 15)]
    assert small.core.sender.resent_batches == 6


def test_until_central_answers_the_oldest_batch_probes_every_second_then_less_often(
    small: Harness,
) -> None:
    """After a broker restart the node may connect before central subscribed
    again: what it sent reached nobody. Until central is heard, the oldest
    batch alone goes again every second for the first 10 s, then every 10 s;
    the rest of the window waits for central."""
    add_events(small.rep, 15)
    small.connect()
    start = small.clock.mono
    assert small.core.next_wakeup() == start + 1
    sent_at = []
    while len(sent_at) < 14:  # the hello's own repeats wake it up too
        wake = small.core.next_wakeup()
        assert wake is not None
        batches = seqs(small.up(small.tick(wake - small.clock.mono)))
        if batches:
            assert batches == [(1, 10)]
            sent_at.append(small.clock.mono - start)
    assert sent_at == [*range(1, 11), 20, 30, 40, 50]


def test_when_central_is_first_heard_what_it_missed_goes_at_once(small: Harness) -> None:
    add_events(small.rep, 15)
    small.connect()
    start = small.clock.mono
    assert seqs(small.up(small.tick(1))) == [(1, 10)]  # the probe
    small.tick(0.5)  # (11, 15) sent 1.5 s ago, no answer: central was not there
    msgs = small.up(small.deliver(Head(0, 0, small.clock.now().unix + 3600)))
    assert seqs(msgs) == [(11, 15)]  # the probe, 0.5 s old, is likely on its way to an ack
    # Both on their second try with central listening: 20 s from their sending.
    assert sorted(f.deadline - start for f in small.core.window.flights) == [21, 21.5]
    assert small.core.next_wakeup() == start + 21


def test_the_ack_of_the_probe_sends_what_central_missed_at_once(small: Harness) -> None:
    """Central's first word after a broker restart is often the ack of the
    probe: the rest of the window, sent before central was there, goes at
    once, not 10 s later (the ack's progress does not postpone it)."""
    add_events(small.rep, 25)
    small.connect()
    assert seqs(small.up(small.tick(1))) == [(1, 10)]  # the probe
    msgs = small.up(small.deliver(Ack(small.core.epoch, 10, {})))
    assert seqs(msgs) == [(11, 20), (21, 25)]


def test_a_retained_head_on_subscribing_is_not_central_heard(small: Harness) -> None:
    """After a broker restart the broker hands the node its retained head at
    once, before central has subscribed again (Mosquitto 2.0.11 does not
    restore shared subscriptions): what the node sent meanwhile reached
    nobody, so its oldest batch still goes again a second later, not after
    the 10 s of a central that is listening."""
    add_events(small.rep, 15)
    start = small.clock.mono
    small.connect()
    small.deliver(Head(0, 0, small.clock.now().unix + 3600), retained=True)
    assert small.core.next_wakeup() == start + 1
    assert seqs(small.up(small.tick(1))) == [(1, 10)]
    assert not small.core.window.heard
    # central's own answer (not retained) is hearing it: the ordinary timeout from then
    small.deliver(Head(0, 0, small.clock.now().unix + 3600))
    assert small.core.window.heard


def test_resend_after_reconnect_from_the_first_unacked_seq(small: Harness) -> None:
    add_events(small.rep, 25)
    small.connect()
    small.deliver(Ack(small.core.epoch, 7, {}))
    small.disconnect()
    assert small.core.window.flights == []
    msgs = small.up(small.connect())
    assert isinstance(msgs[0], Hello)
    assert seqs(msgs) == [(8, 17), (18, 25)]


def test_a_late_ack_from_before_the_reconnect_is_still_applied(small: Harness) -> None:
    add_events(small.rep, 30)
    small.connect()
    small.disconnect()
    small.connect()
    small.deliver(Ack(small.core.epoch, 15, {}))
    assert small.rep.state().acked_through == 15
    assert all(f.first > 15 for f in small.core.window.flights)


# --- acks -----------------------------------------------------------------------------------


def test_ack_deletes_only_through(node: Harness) -> None:
    add_events(node.rep, 10)
    node.connect()
    epoch = node.core.epoch
    node.deliver(Ack(epoch, 4, {}))
    assert [e.seq for e in pending_events(node.rep)] == list(range(5, 11))
    node.deliver(Ack(epoch, 2, {}))  # a replayed older ack
    node.deliver(Ack(epoch + 1, 10, {}))  # another database's epoch
    assert [e.seq for e in pending_events(node.rep)] == list(range(5, 11))
    assert node.rep.state().acked_through == 4


def test_an_ack_beyond_the_last_seq_is_quarantined_and_deletes_nothing(node: Harness) -> None:
    add_events(node.rep, 3)
    node.connect()
    out = node.deliver(Ack(node.core.epoch, 9, {}))
    assert backlog(node.rep) == 3
    assert quarantine_count(node.rep) == 1
    assert any(isinstance(o, AckInbound) for o in out)


def test_acks_delivered_together_are_one_commit_and_then_their_pubacks(small: Harness) -> None:
    add_events(small.rep, 30)
    small.connect()
    epoch = small.core.epoch
    said: list[str] = []
    small.rep.conn.set_trace_callback(said.append)
    out = small.deliver_together([Ack(epoch, 10, {}), Ack(epoch, 20, {}), Ack(epoch, 30, {})])
    small.rep.conn.set_trace_callback(None)
    assert said.count("COMMIT") == 1
    assert sum(s.startswith("SAVEPOINT") for s in said) == 3  # each ack on its own inside
    assert small.rep.state().acked_through == 30 and backlog(small.rep) == 0
    pubacks = [o for o in out if isinstance(o, AckInbound)]
    assert pubacks == [AckInbound(1), AckInbound(2), AckInbound(3)]


def test_a_bad_ack_among_acks_together_is_dropped_alone(small: Harness) -> None:
    add_events(small.rep, 20)
    small.connect()
    epoch = small.core.epoch
    out = small.deliver_together([Ack(epoch, 10, {}), Ack(epoch, 99, {}), Ack(epoch, 20, {})])
    assert small.rep.state().acked_through == 20
    assert quarantine_count(small.rep) == 1  # the ack beyond the last seq
    assert [o for o in out if isinstance(o, AckInbound)] == [AckInbound(i) for i in (1, 2, 3)]


def test_acks_together_that_fail_are_rolled_back_and_handled_one_by_one(
    small: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_events(small.rep, 30)
    small.connect()
    epoch = small.core.epoch
    real = link_core.acknowledge
    calls: list[int] = []

    def once_broken(rep: Replica, epoch: int, through: int, verdicts: Any) -> int:
        calls.append(through)
        if len(calls) == 2:  # the second ack of the group, the first time only
            raise RuntimeError("a bug")
        return real(rep, epoch, through, verdicts)

    monkeypatch.setattr(link_core, "acknowledge", once_broken)
    out = small.deliver_together([Ack(epoch, 10, {}), Ack(epoch, 20, {}), Ack(epoch, 30, {})])
    # the group's transaction was rolled back whole: nothing is acknowledged
    assert calls == [10, 20]
    assert small.rep.state().acked_through == 0
    assert not any(isinstance(o, AckInbound) for o in out)
    out = small.tick(1.0)  # then each on its own
    assert calls == [10, 20, 10, 20, 30]
    assert small.rep.state().acked_through == 30
    assert [o for o in out if isinstance(o, AckInbound)] == [AckInbound(i) for i in (1, 2, 3)]


def test_walkin_verdicts_reach_the_replica(node: Harness, site: Any) -> None:
    add_events(node.rep, 1)
    ev = pending_events(node.rep)[0]
    node.connect()
    node.deliver(Ack(node.core.epoch, 1, {ev.id: Verdict("rejected", "taken")}))
    assert backlog(node.rep) == 0


# --- inbound messages are acknowledged after their commit ------------------------------------


def test_every_inbound_message_is_acked_after_its_effect(node: Harness, site: Any) -> None:
    node.connect()
    out = node.deliver(changes(site, 0, 1, *site.upserts(site.entities())))
    acks = [i for i, o in enumerate(out) if isinstance(o, AckInbound)]
    cursor = [i for i, o in enumerate(out) if isinstance(o, Publish)]
    assert len(acks) == 1 and cursor and cursor[0] < acks[0]
    assert node.rep.state().applied_rev == 1


def test_a_message_that_cannot_be_committed_waits_unacked_and_is_retried(
    tmp_path: Path, site: Any
) -> None:
    path = tmp_path / "node.db"
    rep = Replica.open(path, busy_timeout_s=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        node = Harness(rep)
        node.connect()
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        out = node.deliver(changes(site, 0, 1, *site.upserts(site.entities())))
        assert not any(isinstance(o, AckInbound) for o in out)
        assert rep.state().applied_rev == 0
        # Later messages wait behind it, so that PUBACKs keep their order.
        out = node.deliver(Head(1, 0, node.clock.now().unix + 3600))
        assert not any(isinstance(o, AckInbound) for o in out)
        other.execute("COMMIT")
        out = node.tick(1.0)
        assert [o for o in out if isinstance(o, AckInbound)] == [AckInbound(1), AckInbound(2)]
        assert rep.state().applied_rev == 1 and rep.state().head_rev == 1
    finally:
        other.close()
        rep.close()


def test_a_message_that_always_fails_is_quarantined_after_five_tries(
    node: Harness, site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(link_downstream, "apply_changes", broken)
    node.connect()
    node.deliver(changes(site, 0, 1))
    for _ in range(3):
        assert not any(isinstance(o, AckInbound) for o in node.tick(1.0))
    assert AckInbound(1) in node.tick(1.0)
    assert quarantine_count(node.rep) == 1


def test_a_disconnect_forgets_unacked_messages(tmp_path: Path, site: Any) -> None:
    path = tmp_path / "node.db"
    rep = Replica.open(path, busy_timeout_s=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        node = Harness(rep)
        node.connect()
        other.execute("BEGIN IMMEDIATE")
        node.deliver(changes(site, 0, 1))
        other.execute("COMMIT")
        node.disconnect()
        assert not any(isinstance(o, AckInbound) for o in node.tick(5))
        assert rep.state().applied_rev == 0  # the broker delivers it again
    finally:
        other.close()
        rep.close()


# --- head ---------------------------------------------------------------------------------


def test_a_newer_head_is_recorded_and_asks_for_changes_once(node: Harness) -> None:
    node.connect()
    exp = node.clock.now().unix + 3600
    msgs = node.up(node.deliver(Head(5, 0, exp)))
    assert msgs == [Cursor(0, Want.CHANGES)]
    st = node.rep.state()
    assert (st.head_rev, st.head_oldest_rev, st.head_seen_at) == (5, 0, node.clock.wall)
    assert node.up(node.deliver(Head(5, 0, exp))) == []  # the same request is not repeated
    assert node.up(node.tick(10)) == [Cursor(0, Want.CHANGES)]  # until its retry time
    assert node.up(node.tick(10)) == []
    assert node.up(node.tick(10)) == [Cursor(0, Want.CHANGES)]  # 20 s later


def test_a_newer_head_asks_at_once_even_with_the_same_applied_rev(node: Harness) -> None:
    node.connect()
    exp = node.clock.now().unix + 3600
    assert node.up(node.deliver(Head(5, 0, exp))) == [Cursor(0, Want.CHANGES)]
    node.tick(1)
    # Central moved on (a walk-in, a booking): waiting for the retry would delay it.
    assert node.up(node.deliver(Head(6, 0, exp))) == [Cursor(0, Want.CHANGES)]
    assert node.up(node.deliver(Head(6, 0, exp))) == []


def test_a_head_at_the_applied_rev_asks_nothing(node: Harness, site: Any) -> None:
    node.connect()
    node.deliver(changes(site, 0, 3))
    assert node.up(node.deliver(Head(3, 0, node.clock.now().unix + 60))) == []
    assert node.core.next_wakeup() is None


# --- changes and snapshots ------------------------------------------------------------------


def test_changes_applied_duplicate_and_gap(
    node: Harness, site: Any, dump: Callable[..., Dump]
) -> None:
    node.connect()
    node.deliver(Head(3, 0, node.clock.now().unix + 3600))
    msgs = node.up(node.deliver(changes(site, 0, 1, *site.upserts(site.entities()))))
    assert msgs == [Cursor(1, Want.CHANGES)]
    before = dump(node.rep)
    assert node.up(node.deliver(changes(site, 0, 1))) == []  # duplicate: ignored
    # A gap asks again, but not for what the cursor just sent asked already.
    assert node.up(node.deliver(changes(site, 2, 3))) == []
    assert dump(node.rep) == before
    node.tick(10)
    assert node.up(node.deliver(changes(site, 1, 2))) == [Cursor(2, Want.CHANGES)]
    assert node.up(node.deliver(changes(site, 2, 3))) == [Cursor(3, Want.CHANGES)]
    assert node.rep.state().applied_rev == 3


def test_a_gap_just_after_a_confirmed_batch_is_answered_within_a_second(
    node: Harness, site: Any
) -> None:
    """PROTOCOL.md §6: every gap leads to a cursor. The cursor that confirmed
    rev 1 went out 0.2 s before the gap; the pacer holds a second one back, and
    the retry timer sends it 1 s after the first (it waited 150 s before)."""
    node.connect()
    msgs = node.up(node.deliver(changes(site, 0, 1, *site.upserts(site.entities()))))
    assert msgs == [Cursor(1, Want.CHANGES)]
    node.clock.advance(0.2)
    out = node.deliver(changes(site, 2, 3))
    assert node.up(out) == []
    wake = node.core.next_wakeup()
    assert wake is not None and wake <= node.clock.now().mono + 0.8 + 1e-9
    assert node.up(node.tick(0.8)) == [Cursor(1, Want.CHANGES)]
    # Gaps keep coming (central streams on from the wrong base): one a second.
    node.clock.advance(0.1)
    assert node.up(node.deliver(changes(site, 3, 4))) == []
    assert node.up(node.tick(0.5)) == []
    assert node.up(node.tick(0.4)) == [Cursor(1, Want.CHANGES)]


def test_a_gap_asks_again_with_a_cursor(node: Harness, site: Any) -> None:
    node.connect()
    assert node.up(node.deliver(changes(site, 4, 5))) == [Cursor(0, Want.CHANGES)]
    assert node.rep.state().applied_rev == 0


def test_snapshot_parts_are_staged_then_applied_together(node: Harness, site: Any) -> None:
    node.connect()
    parts = site.snapshot(7, site.entities(), parts=3)
    snaps = [Snapshot(SnapshotPart.from_wire(p)) for p in parts]
    assert node.up(node.deliver(snaps[0])) == []
    assert node.up(node.deliver(snaps[2])) == []
    assert node.rep.state().applied_rev == 0 and node.rep.count("door") == 0
    assert node.up(node.deliver(snaps[1])) == [Cursor(7, Want.CHANGES)]
    assert node.rep.state().applied_rev == 7
    assert node.rep.count("door") == len(site.entities()["door"])


def test_a_corrupt_replica_asks_for_a_snapshot_and_waits_for_it(node: Harness, site: Any) -> None:
    node.connect()
    node.deliver(changes(site, 0, 1, *site.upserts(site.entities())))
    node.rep.conn.execute("UPDATE doors SET data = '{\"id\": 1}' WHERE id = 'main'")
    assert not node.core.check_replica()
    node.disconnect()
    msgs = node.up(node.connect())
    assert msgs[-1] == Cursor(1, Want.SNAPSHOT)
    assert node.up(node.deliver(changes(site, 1, 2))) == []  # not applied while waiting
    assert node.rep.state().applied_rev == 1
    assert node.up(node.tick(10)) == [Cursor(1, Want.SNAPSHOT)]
    snap = Snapshot(SnapshotPart.from_wire(site.snapshot(2, site.entities())[0]))
    assert node.up(node.deliver(snap)) == [Cursor(2, Want.CHANGES)]
    assert not node.core.want_snapshot and node.core.check_replica()


def test_corruption_found_while_applying_asks_for_a_snapshot(
    node: Harness, site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.replica import ReplicaCorrupt

    def corrupt(*args: object) -> object:
        raise ReplicaCorrupt("stored booking does not validate")

    monkeypatch.setattr(link_downstream, "apply_changes", corrupt)
    node.connect()
    out = node.deliver(changes(site, 0, 1))
    assert node.up(out) == [Cursor(0, Want.SNAPSHOT)]
    assert AckInbound(1) in out


# --- commands -------------------------------------------------------------------------------


def cmd(node: Harness, seq: int, what: Cmd, args: Any = None, life: int = 60) -> Command:
    return Command(seq, what, node.clock.now().unix + life, args)


def test_commands_are_queued_for_the_door_controller_and_the_kiosk(node: Harness) -> None:
    node.connect()
    node.deliver(cmd(node, 1, Cmd.UNLOCK, Unlock("main", 5)))
    node.deliver(cmd(node, 2, Cmd.MESSAGE, KioskText("Hallen stänger 21")))
    queued = pending_commands(node.rep)
    assert [(c.seq, c.cmd, c.args) for c in queued] == [
        (1, "unlock", {"door": "main", "seconds": 5}),
        (2, "message", {"text": "Hallen stänger 21", "audience": "public"}),
    ]
    assert last_command_seq(node.rep) == 2


def test_a_message_no_kiosk_took_expires_at_its_exp(node: Harness) -> None:
    """docs/kiosk.md "Messages from central": the link ends it (a kiosk that is
    down cannot), once, with the clock trusted; the wakeup is at its exp."""
    node.connect()
    out = node.deliver(cmd(node, 3, Cmd.MESSAGE, KioskText("Stängt", Audience.CARETAKER), life=90))
    wake = [o.at for o in out if isinstance(o, Wakeup)]
    assert wake and min(wake) <= node.clock.mono + 90
    node.tick(60)
    assert [c.seq for c in pending_commands(node.rep)] == [3]
    node.tick(31)
    assert pending_commands(node.rep) == []
    node.tick(60)
    done = [e.body for e in pending_events(node.rep) if e.type == "command.done"]
    assert done == [{"seq": 3, "cmd": "message", "result": "expired", "detail": EXPIRED_UNSHOWN}]


def test_a_wall_step_forward_expires_a_message_within_seconds(node: Harness) -> None:
    """The wakeup is monotonic, the exp a wall instant: a step past the exp
    ends the message at the next look, at most ``MESSAGE_RECHECK_S`` later."""
    node.connect()
    out = node.deliver(cmd(node, 3, Cmd.MESSAGE, KioskText("Stängt"), life=300))
    wake = min(o.at for o in out if isinstance(o, Wakeup))
    assert wake <= node.clock.mono + MESSAGE_RECHECK_S
    node.clock.step_wall(86400)
    node.tick(MESSAGE_RECHECK_S)
    done = [e.body for e in pending_events(node.rep) if e.type == "command.done"]
    assert [(d["seq"], d["result"]) for d in done] == [(3, "expired")]


def test_a_wall_step_back_keeps_a_message_until_its_exp(node: Harness) -> None:
    node.connect()
    node.deliver(cmd(node, 3, Cmd.MESSAGE, KioskText("Stängt"), life=300))
    node.clock.step_wall(-3600)
    node.tick(400)  # 400 s pass, but the wall clock reads an hour earlier
    assert [c.seq for c in pending_commands(node.rep)] == [3]
    node.tick(3600)
    assert pending_commands(node.rep) == []


def test_an_untrusted_clock_expires_no_message(node: Harness) -> None:
    node.connect()
    node.deliver(cmd(node, 4, Cmd.MESSAGE, KioskText("Stängt"), life=30))
    node.clock.trusted = False
    node.tick(3600)
    assert [c.seq for c in pending_commands(node.rep)] == [4]


def test_an_unlock_is_refused_while_the_clock_is_untrusted(node: Harness) -> None:
    node.clock.trusted = False
    node.connect()
    node.deliver(cmd(node, 1, Cmd.UNLOCK, Unlock("main", 5)))
    node.deliver(cmd(node, 2, Cmd.LOCKDOWN))
    assert [c.seq for c in pending_commands(node.rep)] == [2]
    done = [e.body for e in pending_events(node.rep) if e.type == "command.done"]
    assert done == [{"seq": 1, "cmd": "unlock", "result": "failed", "detail": UNTRUSTED_UNLOCK}]
    assert last_command_seq(node.rep) == 2


def test_resync_is_carried_out_by_the_link(node: Harness) -> None:
    node.connect()
    out = node.deliver(cmd(node, 3, Cmd.RESYNC))
    msgs = node.up(out)
    assert msgs[0] == Cursor(0, Want.SNAPSHOT)
    assert pending_commands(node.rep) == []
    done = [e for e in pending_events(node.rep) if e.type == "command.done"]
    assert [(e.body["seq"], e.body["result"]) for e in done] == [(3, "done")]
    assert seqs(msgs) == [(1, 1)]  # and the command.done event goes up at once
    assert node.core.want_snapshot


def test_a_redelivered_command_is_taken_once_and_not_reported(node: Harness) -> None:
    node.connect()
    c = cmd(node, 4, Cmd.LOCKDOWN)
    node.deliver(c)
    topic, token = node.sign(c)
    node.deliver((topic, token), dup=True)
    assert len(pending_commands(node.rep)) == 1
    assert security_events(node.rep) == []


# --- dropped messages: security events and quarantine ------------------------------------------


def state_without_outbox(dump: Callable[..., Dump], rep: Replica) -> Dump:
    d = dump(rep)
    for table in ("outbox", "quarantine", "sync_state", "_sqlite_migrations"):
        d.pop(table, None)
    st = rep.state()
    d["sync"] = [(st.epoch, st.applied_rev, st.acked_through, st.head_rev, st.head_seen_at)]
    return d


def forged(node: Harness, good: tuple[str, bytes]) -> tuple[str, bytes]:
    """The token with one payload character changed: the signature fails."""
    head, payload, sig = good[1].split(b".")
    flipped = payload[:-2] + (b"A" if payload[-2:-1] != b"A" else b"B") + payload[-1:]
    return good[0], b".".join([head, flipped, sig])


def unsigned(node: Harness, good: tuple[str, bytes]) -> tuple[str, bytes]:
    """The token as ``alg: none`` with an empty signature (RFC 7515 §A.5)."""
    _, payload, _ = good[1].split(b".")
    head = json.dumps({"alg": "none", "kid": CENTRAL_KID, "typ": "hallvakt+json"}).encode()
    return good[0], b64url_encode(head).encode() + b"." + payload + b"."


CASES: dict[str, tuple[str, Callable[[Harness], tuple[str, bytes]]]] = {
    "alg_none": (
        "bad_signature",
        lambda n: unsigned(n, n.sign(Head(9, 0, n.clock.now().unix + 60))),
    ),
    "bad_signature": (
        "bad_signature",
        lambda n: forged(n, n.sign(Head(9, 0, n.clock.now().unix + 60))),
    ),
    "unknown_key": (
        "unknown_key",
        lambda n: n.sign(Head(9, 0, n.clock.now().unix + 60), kid="central-unpinned"),
    ),
    "other_node_topic": (
        "wrong_topic",
        lambda n: n.sign(Head(9, 0, n.clock.now().unix + 60), node="test.hall.n2"),
    ),
    "other_node_claim": (
        "wrong_node",
        lambda n: (
            f"hallvakt/v1/{NODE}/dn/head",
            n.sign(Head(9, 0, n.clock.now().unix + 60), node="test.hall.n2")[1],
        ),
    ),
    "kind_on_wrong_topic": (
        "wrong_topic",
        lambda n: (
            f"hallvakt/v1/{NODE}/dn/cmd",
            n.sign(Head(9, 0, n.clock.now().unix + 60))[1],
        ),
    ),
    "stale_head": (
        "expired",
        lambda n: n.sign(Head(9, 0, n.clock.now().unix - 1), iat=n.clock.now().unix - 3600),
    ),
    "rollback_head": ("rollback", lambda n: n.sign(Head(1, 0, n.clock.now().unix + 60))),
    "expired_command": (
        "expired",
        lambda n: n.sign(
            Command(9, Cmd.LOCKDOWN, n.clock.now().unix - 10), iat=n.clock.now().unix - 100
        ),
    ),
    "replayed_command": ("replayed", lambda n: n.sign(cmd(n, 2, Cmd.LOCKDOWN))),
    "node_signed_as_central": (
        "unknown_key",
        lambda n: n.sign(Head(9, 0, n.clock.now().unix + 60), kid="test.hall.n1-testkey"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_dropped_message_changes_nothing_and_is_recorded(
    node: Harness, site: Any, dump: Callable[..., Dump], case: str
) -> None:
    reason, make = CASES[case]
    node.connect()
    node.deliver(changes(site, 0, 2, *site.upserts(site.entities())))
    node.deliver(Head(2, 0, node.clock.now().unix + 60))
    node.deliver(cmd(node, 2, Cmd.MESSAGE, KioskText("hej")))
    node.deliver(Ack(node.core.epoch, node.rep.state().last_seq, {}))
    before = state_without_outbox(dump, node.rep)
    out = node.deliver(make(node))
    assert AckInbound(5) in out
    assert state_without_outbox(dump, node.rep) == before
    events = security_events(node.rep)
    assert [e.body["reason"] for e in events] == [reason]
    assert set(events[0].body) == {"topic", "reason", "detail"}
    assert seqs(node.up(out)) == [(events[0].seq, events[0].seq)]
    assert node.core.inbound.rejected[reason] == 1
    assert quarantine_count(node.rep) == 0


def test_an_expired_head_is_taken_when_the_clock_is_not_trusted(node: Harness) -> None:
    node.clock.trusted = False
    node.connect()
    node.deliver(node.sign(Head(9, 0, node.clock.now().unix - 1), iat=node.clock.now().unix - 99))
    assert node.rep.state().head_rev == 9
    assert security_events(node.rep) == []


@pytest.mark.parametrize(
    ("suffix", "claims", "reason"),
    [
        ("dn/chg", {"v": 1, "kind": "weather", "node": NODE, "iat": 1}, "unknown_kind"),
        ("dn/head", {"v": 1, "kind": "head", "node": NODE, "iat": 1, "rev": 5}, "malformed"),
        ("dn/ack", {"v": 2, "kind": "ack", "node": NODE, "iat": 1}, "malformed"),
        ("dn/chg", {"v": 1, "kind": "changes", "node": NODE, "iat": 1, "base": 2}, "malformed"),
    ],
)
def test_unknown_kinds_and_malformed_messages_are_quarantined(
    node: Harness, dump: Callable[..., Dump], suffix: str, claims: dict[str, Any], reason: str
) -> None:
    node.connect()
    before = state_without_outbox(dump, node.rep)
    token = sign(claims, CENTRAL_KID, private_key(CENTRAL_KID))
    out = node.deliver((f"hallvakt/v1/{NODE}/{suffix}", token))
    assert AckInbound(1) in out
    assert state_without_outbox(dump, node.rep) == before
    assert security_events(node.rep) == []
    row = node.rep.conn.execute("SELECT reason, payload FROM quarantine").fetchone()
    assert row == (reason, token)


def test_garbage_bytes_are_quarantined(node: Harness) -> None:
    node.connect()
    node.deliver((f"hallvakt/v1/{NODE}/dn/chg", b"\xff\x00not a token"))
    node.deliver((f"hallvakt/v1/{NODE}/dn/chg", b64url_encode(b"{}").encode()))
    assert quarantine_count(node.rep) == 2


def test_security_events_are_limited_per_minute(node: Harness) -> None:
    node.connect()
    bad = CASES["unknown_key"][1](node)
    for _ in range(SECURITY_EVENTS_PER_MIN + 10):
        node.deliver(bad)
    assert len(security_events(node.rep)) == SECURITY_EVENTS_PER_MIN
    node.tick(60)
    node.deliver(bad)
    last = security_events(node.rep)[-1]
    assert last.body["suppressed"] == 10
    assert node.core.inbound.rejected["unknown_key"] == SECURITY_EVENTS_PER_MIN + 11


# --- odds and ends ------------------------------------------------------------------------


def test_will_and_goodbye_are_signed_offline_statuses(node: Harness) -> None:
    for p in (node.core.will(node.clock.now()), node.core.goodbye(node.clock.now())):
        assert p.retain and p.topic == f"hallvakt/v1/{NODE}/status"
        assert node.up([p]) == [Status(State.OFFLINE, node.core.epoch)]


def test_stats(node: Harness) -> None:
    add_events(node.rep, 3)
    node.connect()
    node.deliver(Head(4, 0, node.clock.now().unix + 60))
    node.clock.advance(30)
    s = node.core.stats(node.clock.now())
    assert (s.connected, s.in_flight_batches, s.in_flight_events, s.backlog) == (True, 1, 3, 3)
    assert (s.head_rev, s.last_head_age_s, s.applied_rev) == (4, 30.0, 0)
    assert s.to_json()["outbox"] == {"acked_through": 0, "last_seq": 3, "backlog": 3}


def test_refused_publishes_are_counted_in_the_stats(node: Harness) -> None:
    node.connect()
    assert node.core.stats(node.clock.now()).to_json()["refused_publishes"] == 0
    for topic in (f"hallvakt/v1/{NODE}/up/hello", f"hallvakt/v1/{NODE}/up/evt"):
        node.clock.advance(1)
        out = node.feed(PublishRefused(topic, "Not authorized"))
        assert not [o for o in out if isinstance(o, Publish)]  # nothing sent again for it
    s = node.core.stats(node.clock.now())
    assert (s.refused_publishes, s.last_refusal) == (
        2,
        f"hallvakt/v1/{NODE}/up/evt: Not authorized",
    )
    assert s.last_refusal_at == node.clock.now().wall
    assert s.to_json()["last_refusal_at"] == node.clock.now().wall.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_messages_before_connect_are_still_handled(node: Harness) -> None:
    out = node.feed(MessageIn(*node.sign(Head(2, 0, node.clock.now().unix + 60)), 7))
    assert out == [AckInbound(7)]
    assert node.rep.state().head_rev == 2
    assert node.feed(Disconnected()) == []
    assert [type(o) for o in node.feed(Connected())][:2] == [Subscribe, Publish]


def test_outputs_are_typed(node: Harness) -> None:
    add_events(node.rep, 1)
    out: list[Output] = node.connect()
    assert {type(o) for o in out} == {Subscribe, Publish, Wakeup}


@pytest.mark.parametrize("setting", [{"max_batches": 0}, {"max_batches": MAX_WINDOW + 1}])
def test_a_window_outside_its_bounds_is_refused(replica: Replica, setting: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"max_batches must be 1\.\.64"):
        Harness(replica, setting)


def test_the_default_window_fills_with_sixteen_batches(replica: Replica) -> None:
    node = Harness(replica)
    add_events(node.rep, 16 * 256 + 1)
    sent = [m for m in node.up(node.connect()) if isinstance(m, Events)]
    assert [len(m.events) for m in sent] == [256] * 16
    assert len(node.core.window.flights) == 16


def test_with_four_batches_in_flight_a_short_batch_waits_to_fill(replica: Replica) -> None:
    node = Harness(replica, {"batch_events": 10})
    add_events(node.rep, 35)
    node.connect()  # 10, 10, 10 and a short 5: fewer than 4 were in flight
    assert len(node.core.window.flights) == 4
    add_events(node.rep, 7)
    assert seqs(node.up(node.feed(OutboxGrew()))) == []  # 2 more would be a short batch
    add_events(node.rep, 5)
    assert seqs(node.up(node.feed(OutboxGrew()))) == [(36, 45)]  # a full one goes
    # central acknowledges the first two: 3 in flight, so the short one goes
    assert seqs(node.up(node.deliver(Ack(node.core.epoch, 20, {})))) == [(46, 47)]

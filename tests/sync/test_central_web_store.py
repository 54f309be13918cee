"""Central's web page over the store, on SQLite and PostgreSQL (no HTTP here).

What the pages read and write: device states kept as events are stored
(sync/central/observed.py), command states, the fleet's health, the alarm feed
and its filters, accounts, sessions, the login throttle and the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.central import nodes
from sync.central.events import store_events
from sync.central.store import Store
from sync.central.web import accounts, alarms, commands, fleet, guard, sessions
from sync.protocol import Cmd
from sync.protocol.timeutil import from_ts, to_ts
from tests.support.central_web import (
    ACCOUNTS,
    EPOCH,
    EVIL_NAME,
    FACILITY,
    NODE,
    QUIET,
    add_accounts,
    event,
    seed,
)

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
T = to_ts(NOW)
PH = accounts.hasher("cheapest")


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store.open(store_url)
    seed(s, NOW)
    add_accounts(s, NOW)
    return s


def devices(store: Store) -> dict[tuple[str, str], tuple[str, str, int]]:
    rows = store.execute(
        "SELECT kind, id, state, detail, since_ts FROM node_devices WHERE node = ?", [NODE]
    )
    return {(k, i): (s, d, int(t)) for k, i, s, d, t in rows}


def test_events_become_device_states_newest_wins_and_repeats_keep_since(store: Store) -> None:
    assert devices(store) == {
        ("door", "door.main"): ("forced", "", T),
        ("reader", "main-in"): ("offline", "no answer", T),
        ("tamper", "main-in"): ("active", "", T),
    }
    later, earlier = NOW + timedelta(seconds=60), NOW - timedelta(seconds=60)
    batch = [
        event(4, "door.closed", {"door": "door.main", "state": "locked"}, later),
        event(5, "door.opened", {"door": "door.main", "state": "open"}, earlier),  # late: ignored
        event(6, "reader.online", {"reader": "main-in"}, later),
        event(7, "door.tamper", {"reader": "main-in", "active": False}, later),
        event(8, "door.opened", {"door": 5}, later),  # not what the type says: skipped
    ]
    store_events(store, NODE, FACILITY, EPOCH, batch, later)
    store_events(store, NODE, FACILITY, EPOCH, batch, later)  # delivered twice
    later2 = later + timedelta(seconds=30)
    store_events(
        store, NODE, FACILITY, EPOCH,
        [event(9, "door.closed", {"door": "door.main", "state": "locked"}, later2)], later2,
    )  # fmt: skip
    assert devices(store) == {
        ("door", "door.main"): ("locked", "", T + 60),  # since the first "locked"
        ("reader", "main-in"): ("online", "", T + 60),
        ("tamper", "main-in"): ("clear", "", T + 60),
    }
    event_ts = store.execute("SELECT event_ts FROM node_state WHERE node = ?", [NODE]).scalar()
    assert event_ts == T + 90


def test_door_state_reports_fold_and_a_fire_relock_says_its_state(store: Store) -> None:
    """A started node's door.state is the door's state before anything happens
    at it; a body the wire rules refuse is skipped; the fire release's relock
    (active false) folds to the state it names, not to "fire_release"."""
    t1, t2, t3 = (NOW + timedelta(seconds=s) for s in (60, 70, 80))
    store_events(
        store, NODE, FACILITY, EPOCH,
        [
            event(4, "door.state", {"door": "door.side", "state": "locked"}, t1),
            event(5, "door.state", {"door": "door.main", "state": "lockdown"}, t1),
            event(6, "door.state", {"door": "door.back", "state": "ajar"}, t1),  # no such state
            event(7, "door.state", {"door": "", "state": "locked"}, t1),  # no door
            event(8, "door.state", {"state": "locked"}, t1),
        ],
        t1,
    )  # fmt: skip
    got = devices(store)
    assert got[("door", "door.side")] == ("locked", "", T + 60)
    assert got[("door", "door.main")] == ("lockdown", "", T + 60)
    assert ("door", "door.back") not in got and ("door", "") not in got
    fire = {"door": "door.side", "input": "reader:main-in:2"}
    store_events(
        store, NODE, FACILITY, EPOCH,
        [event(9, "door.fire_release", {**fire, "active": True, "state": "fire_release"}, t2)],
        t2,
    )  # fmt: skip
    assert devices(store)[("door", "door.side")] == ("fire_release", "", T + 70)
    store_events(
        store, NODE, FACILITY, EPOCH,
        [event(10, "door.fire_release", {**fire, "active": False, "state": "locked"}, t3)],
        t3,
    )  # fmt: skip
    assert devices(store)[("door", "door.side")] == ("locked", "", T + 80)


def test_a_command_goes_queued_delivered_done_once(store: Store) -> None:
    ops = accounts.get(store, "olle")
    assert ops is not None
    p = commands.propose(
        store, {"node": NODE, "cmd": "unlock", "door": "door.main", "seconds": "9"}
    )
    seq = commands.send(store, p, ops, "127.0.0.1", T)
    assert commands.one(store, NODE, seq, T).state == "queued"  # type: ignore[union-attr]
    taken = nodes.take_commands(store, NOW)  # the gateway's own step
    assert [(q.node, q.seq) for q in taken] == [(NODE, seq)]
    # taken by a gateway, not yet confirmed by the broker: still on its way
    assert commands.one(store, NODE, seq, T + 1).state == "queued"  # type: ignore[union-attr]
    nodes.commands_published(store, [(NODE, seq)])  # the broker's PUBACK
    assert commands.one(store, NODE, seq, T + 1).state == "delivered"  # type: ignore[union-attr]
    done = {"seq": seq, "cmd": "unlock", "result": "done", "detail": "door.main unlocked 9 s"}
    store_events(store, NODE, FACILITY, EPOCH, [event(4, "command.done", done, NOW)], NOW)
    again = {**done, "result": "failed"}
    store_events(store, NODE, FACILITY, EPOCH, [event(5, "command.done", again, NOW)], NOW)
    c = commands.one(store, NODE, seq, T + 2)
    assert c is not None
    assert (c.state, c.result, c.detail, c.sent_by) == ("done", "done", done["detail"], "olle")
    audit = guard.recent(store, node=NODE, seq=seq)
    assert [(a.username, a.role, a.action, a.detail) for a in audit] == [
        ("olle", "operator", "command", {"cmd": "unlock", "door": "door.main", "seconds": 9})
    ]


def test_commands_expire_by_their_lifetime(store: Store) -> None:
    ops = accounts.get(store, "olle")
    assert ops is not None
    queued = commands.send(
        store, commands.propose(store, {"node": QUIET, "cmd": "resync"}), ops, "a", T
    )
    assert commands.one(store, QUIET, queued, T + 299).state == "queued"  # type: ignore[union-attr]
    assert commands.one(store, QUIET, queued, T + 301).state == "expired"  # type: ignore[union-attr]
    sent = commands.send(
        store, commands.propose(store, {"node": NODE, "cmd": "lockdown"}), ops, "a", T
    )
    nodes.take_commands(store, NOW)
    nodes.commands_published(store, [(NODE, sent)])
    assert commands.one(store, NODE, sent, T + 320).state == "delivered"  # type: ignore[union-attr]
    assert commands.one(store, NODE, sent, T + 331).state == "expired"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("form", "why"),
    [
        ({"node": "nope", "cmd": "resync"}, "no such node"),
        ({"node": NODE, "cmd": "reboot"}, "unknown command"),
        ({"node": NODE, "cmd": "unlock", "door": "door.elsewhere", "seconds": "5"}, "no such door"),
        ({"node": NODE, "cmd": "unlock", "door": "door.main", "seconds": "0"}, "seconds must be"),
        ({"node": NODE, "cmd": "unlock", "door": "door.main", "seconds": "x"}, "whole number"),
        ({"node": NODE, "cmd": "message", "text": "  "}, "write the message"),
        ({"node": NODE, "cmd": "message", "text": "x" * 501}, "at most 500"),
    ],
)
def test_bad_commands_are_refused_and_nothing_is_queued(
    store: Store, form: dict[str, str], why: str
) -> None:
    with pytest.raises(commands.CommandRefused, match=why):
        commands.propose(store, form)
    assert store.execute("SELECT count(*) FROM commands").scalar() == 0


def test_fleet_shows_health_and_problems(store: Store) -> None:
    view = fleet.fleet(store, T + 10)
    rows = {r.node: r for r in view.rows}
    n1, n2 = rows[NODE], rows[QUIET]
    assert (n1.online, n1.last_heard, n1.lag, n1.backlog, n1.clock_trusted) == (True, T, 1, 0, True)
    assert [(d.id, d.state) for d in n1.doors] == [("door.main", "forced")]
    assert n1.tampered == ["main-in"] and n1.readers_online == 0
    assert n1.problems == ["door_forced", "reader_offline", "tamper"]  # lag 1 is recent: no problem
    assert fleet.fleet(store, T + 400).rows[0].problems[-1] == "behind"
    assert (n2.online, n2.last_heard, n2.backlog, n2.problems) == (False, None, None, ["offline"])
    assert view.facilities == {FACILITY: "Kroksbäckshallen"} and view.online == 1


def test_facility_page_names_no_private_person(store: Store) -> None:
    page = fleet.facility_page(store, FACILITY, T)
    assert page is not None
    assert [(d.id, d.state, d.node) for d in page.doors] == [
        ("door.back", None, None),
        ("door.main", "forced", NODE),
    ]
    assert [(b.id, b.holder, b.holder_kind) for b in page.bookings] == [
        ("b1", EVIL_NAME, "association"),
        ("b2", "", "person"),
    ]
    assert fleet.facility_page(store, "nowhere", T) is None


def test_alarm_feed_filters_by_kind_facility_and_time(store: Store) -> None:
    nodes.log_security(store, f"hallvakt/v1/{NODE}/up/evt", NODE, "bad_signature", "x", NOW)
    nodes.quarantine(
        store, f"hallvakt/v1/{QUIET}/up/evt", "malformed", "y", b"", NOW + timedelta(1)
    )
    done = {"seq": None, "cmd": "lockdown", "result": "done", "origin": "kiosk"}
    unlock = {"seq": 1, "cmd": "unlock", "result": "done"}
    later = NOW + timedelta(seconds=5)
    store_events(
        store, NODE, FACILITY, EPOCH,
        [event(4, "command.done", done, later), event(5, "command.done", unlock, later)], later,
    )  # fmt: skip
    kinds = [e.kind for e in alarms.feed(store)]
    # ties in time: central's own drops first, then node events by seq, newest first
    assert kinds == ["quarantine", "lockdown", "security", "tamper", "reader_offline", "forced"]
    assert [e.kind for e in alarms.feed(store, kind="forced")] == ["forced"]
    assert len(alarms.feed(store, kind="all")) == 7  # 5 node events, a drop, a quarantine
    assert alarms.feed(store, facility="other") == []
    assert [e.kind for e in alarms.feed(store, start=T + 1, end=T + 60)] == ["lockdown"]
    assert [e.type for e in alarms.feed(store, limit=2)] == ["central.quarantine", "command.done"]
    with pytest.raises(ValueError):
        alarms.feed(store, kind="everything")


def test_the_alarm_feed_reads_by_type_through_the_partial_index(store: Store) -> None:
    """Central migration 0005 keeps access.granted out of the index by type; the
    feed's query by type still finds its rows through that index (its words
    imply the index's condition, on both engines), and no alarm kind covers
    the type left out."""
    assert "access.granted" not in alarms.ALARM_TYPES
    grant = {"door": "main", "booking": "b1", "reason": "booking"}
    store_events(store, NODE, FACILITY, EPOCH, [event(4, "access.granted", grant, NOW)], NOW)
    where = f"e.type IN (?) AND {alarms.NOT_ENTRY}"
    sql = f"SELECT e.seq FROM events e WHERE {where} AND e.at_ts >= ? ORDER BY e.at_ts"
    params = ["door.forced", 0]
    if store.engine == "sqlite":
        plan = " ".join(str(r) for r in store.execute("EXPLAIN QUERY PLAN " + sql, params))
    else:  # the planner may prefer a scan of a small table: ask for the index's cost
        with store.read():
            store.execute("SET LOCAL enable_seqscan = off")
            plan = " ".join(str(r) for r in store.execute("EXPLAIN " + sql, params))
    assert "events_type_at" in plan, plan
    assert [e.type for e in alarms.feed(store, kind="all")].count("access.granted") == 1
    assert "access.granted" not in [e.type for e in alarms.feed(store)]


def test_accounts_and_passwords(store: Store) -> None:
    assert accounts.authenticate(store, PH, "ada", "admin-password-01") is not None
    assert accounts.authenticate(store, PH, "ada", "wrong-password-01") is None
    assert accounts.authenticate(store, PH, "nobody", "admin-password-01") is None
    assert accounts.authenticate(store, PH, "<script>", "x") is None
    stored = store.execute("SELECT password_hash FROM web_accounts WHERE username = 'ada'").scalar()
    assert stored.startswith("$argon2id$") and "admin-password-01" not in stored
    for bad in [
        ("Ada", "viewer", "long-enough-pw"),
        ("ok", "root", "long-enough-pw"),
        ("ok", "viewer", "short"),
    ]:
        with pytest.raises(accounts.AccountError):
            accounts.add(store, PH, bad[0], "", bad[1], bad[2], NOW)
    with pytest.raises(accounts.AccountError, match="exists"):
        accounts.add(store, PH, "ada", "", "viewer", "long-enough-pw", NOW)
    accounts.set_disabled(store, "ada", True)
    assert accounts.authenticate(store, PH, "ada", "admin-password-01") is None
    assert [a.username for a in accounts.every(store)] == sorted(ACCOUNTS)


def test_sessions_start_fresh_expire_and_end(store: Store) -> None:
    ada = accounts.get(store, "ada")
    assert ada is not None
    token, s = sessions.start(store, ada, T, 100, 1000)
    assert (
        store.execute("SELECT count(*) FROM web_sessions WHERE id_hash = ?", [token]).scalar() == 0
    )
    assert sessions.find(store, token, T + 50, 100, 1000) == s  # not touched: seen 50 s ago
    assert sessions.find(store, token, T + 70, 100, 1000) is not None  # touched: idle until +170
    assert sessions.find(store, token, T + 140, 100, 1000) is not None
    assert sessions.find(store, "forged", T, 100, 1000) is None
    assert sessions.find(store, token, T + 1000, 100, 1000) is None  # past its whole life
    token2, _ = sessions.start(store, ada, T, 100, 1000)
    assert token2 != token
    accounts.set_disabled(store, "ada", True)
    assert sessions.find(store, token2, T + 1, 100, 1000) is None
    assert sessions.csrf_ok("abc", "abc") and not sessions.csrf_ok("abc", "abd")
    assert not sessions.csrf_ok("abc", None) and not sessions.csrf_ok("", "")


def test_idle_sessions_end(store: Store) -> None:
    vera = accounts.get(store, "vera")
    assert vera is not None
    token, _ = sessions.start(store, vera, T, 100, 1000)
    assert sessions.find(store, token, T + 101, 100, 1000) is None


def test_login_throttle_by_user_and_by_address(store: Store) -> None:
    th = guard.Throttle(window_s=600, per_user=3, per_addr=5)
    for i in range(3):
        assert guard.wait_s(store, th, "ada", "10.0.0.1", T + i) == 0
        guard.failed(store, th, "ada", "10.0.0.1", T + i)
    assert guard.wait_s(store, th, "ada", "10.0.0.2", T + 10) == 590
    assert guard.wait_s(store, th, "ada", "10.0.0.2", T + 600) == 0  # the first left the window
    for i in range(2):
        guard.failed(store, th, f"user{i}", "10.0.0.1", T + 20)
    assert guard.wait_s(store, th, "vera", "10.0.0.1", T + 30) > 0  # the address is blocked
    assert guard.wait_s(store, th, "vera", "10.0.0.9", T + 30) == 0
    guard.succeeded(store, "ada")
    assert guard.wait_s(store, th, "ada", "10.0.0.3", T + 30) == 0


def test_a_command_that_cannot_be_queued_leaves_no_audit_row(store: Store) -> None:
    ops = accounts.get(store, "olle")
    assert ops is not None
    p = commands.Proposal("ghost", FACILITY, Cmd.RESYNC)
    with pytest.raises(commands.CommandRefused):
        commands.send(store, p, ops, "a", T)
    assert guard.recent(store) == []
    assert from_ts(T) == NOW

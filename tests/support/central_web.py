"""Central's store seeded for the web page's tests: a facility as central holds it,
a node that has reported door and reader states, and the four kinds of account.

- ``seed(store, now)``: facility ``f1`` ("Kroksbäckshallen") with a hall, two
  doors, an association whose public name and a booking today whose title
  carry HTML (the page must show them as text), a private person's booking,
  node ``n1`` registered and online (hello, status), and its events: a door
  forced, a reader offline, tamper; node ``n2`` registered and never heard.
- ``ACCOUNTS``: user name -> (role, password) of ``add_accounts``.
- ``event(seq, type, body, at)``: an outbox event as a node sends it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.central import changelog as cl
from sync.central import nodes
from sync.central.events import store_events
from sync.central.store import Store
from sync.central.web import accounts
from sync.protocol import Clock, ClockSource, Hello, OutboxRange, State, Status
from sync.protocol.records import Booking, Door, Facility, Holder, Resource
from sync.protocol.timeutil import to_ts
from sync.replica import OutboxEvent, uuid7

FACILITY = "f1"
NODE, QUIET = "n1", "n2"
EPOCH = 7
EVIL_NAME = '<img src=x onerror="alert(1)">IK <b>Evil</b>'
EVIL_TITLE = "<script>alert('title')</script>Träning"
ACCOUNTS = {
    "vera": ("viewer", "viewer-password-1"),
    "greta": ("grants", "grants-password-1"),
    "olle": ("operator", "operator-password-1"),
    "ada": ("admin", "admin-password-01"),
}


def event(seq: int, type_: str, body: dict[str, object], at: datetime) -> OutboxEvent:
    return OutboxEvent(seq, uuid7(to_ts(at) * 1000 + seq), type_, at, body)


def add_accounts(store: Store, now: datetime) -> None:
    ph = accounts.hasher("cheapest")
    for user, (role, password) in ACCOUNTS.items():
        accounts.add(store, ph, user, user.title(), role, password, now)


def seed(store: Store, now: datetime) -> None:
    day = now.replace(minute=0, second=0, microsecond=0)
    records = [
        Facility(FACILITY, "Kroksbäckshallen"),
        Resource("hall", "Stora hallen"),
        Door("door.main", "Huvudentré", ("hall",), unlock_seconds=7),
        Door("door.back", "Bakdörr", ("hall",)),
        Holder("h.evil", "association", EVIL_NAME),
        Holder("h.anna", "person", "Anna Andersson"),
        Booking("b1", ("hall",), day, day + timedelta(hours=1), "h.evil", EVIL_TITLE),
        Booking("b2", ("hall",), day + timedelta(hours=1), day + timedelta(hours=2), "h.anna"),
    ]
    cl.mutate(store, FACILITY, [cl.upsert(r) for r in records], now)
    for node in (NODE, QUIET):
        raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        nodes.register_node(store, node, FACILITY, raw, None, now)
    hello = Hello(
        EPOCH, "boot-1", 0, OutboxRange(1, 3), "hallvakt 0.1", Clock(True, ClockSource.NTP)
    )
    nodes.record_hello(store, NODE, hello, to_ts(now), now)
    nodes.record_status(store, NODE, Status(State.ONLINE, EPOCH), to_ts(now), now)
    events = [
        event(1, "door.forced", {"door": "door.main", "state": "forced"}, now),
        event(2, "reader.offline", {"reader": "main-in", "reason": "no answer"}, now),
        event(3, "door.tamper", {"reader": "main-in", "active": True}, now),
    ]
    store_events(store, NODE, FACILITY, EPOCH, events, now)

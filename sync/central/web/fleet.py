"""What the fleet and facility pages show, read from central's store (no HTTP here).

Rules this module guarantees:
- ``fleet`` reads every node (or one facility's) in two statements inside one
  read snapshot: node rows with their facility's revision and their event
  stream, then the device states of ``node_devices`` (sync/central/observed.py).
  Its cost grows with the number of nodes, not of events.
- A node is ``online`` when its newest retained ``status`` says so (the Will
  says ``offline`` when it vanishes; a link stopping cleanly says it too).
  ``last_heard`` is the newest of its hello, cursor, status and event times.
  ``lag`` is its facility's revision minus its ``applied_rev``; ``backlog`` the
  events its last hello said it held beyond what central has acknowledged
  (``through``), never below 0.
- ``problems`` lists what a facility manager must act on, in words the page
  translates: offline, a door forced / held open / in fire release / in
  lockdown / without power, a reader offline, tamper, an untrusted clock, and
  data behind for more than ``STALE_LAG_S`` without the node catching up.
- ``facility_page`` adds the facility's doors (central's door records with the
  state the nodes last reported), readers and today's bookings in the
  facility's time zone, each with its public title and its holder's public
  name; a private person is never named (PROTOCOL.md §6 ``holder``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sync.protocol.timeutil import to_ts, zone

from ..store import Store

STALE_LAG_S = 300
ALARM_DOOR_STATES = ("forced", "held_open", "fire_release", "lockdown", "powerless")


class DeviceState(NamedTuple):
    kind: str  # door | reader | tamper
    id: str
    state: str
    detail: str
    since_ts: int


@dataclass(slots=True)
class NodeRow:
    node: str
    facility: str
    facility_name: str
    online: bool
    last_heard: int | None
    lag: int
    backlog: int | None
    clock_trusted: bool | None
    clock_source: str | None
    software: str
    doors: list[DeviceState] = field(default_factory=list)
    readers: list[DeviceState] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def readers_online(self) -> int:
        return sum(1 for r in self.readers if r.state == "online")


@dataclass(frozen=True, slots=True)
class Fleet:
    rows: list[NodeRow]
    facilities: dict[str, str]  # id -> name, every facility with a node or records

    @property
    def online(self) -> int:
        return sum(1 for r in self.rows if r.online)

    @property
    def with_problems(self) -> int:
        return sum(1 for r in self.rows if r.problems)


def facility_names(store: Store) -> dict[str, str]:
    """Facility id -> its name (the id when it has no facility record)."""
    names = {f: f for (f,) in store.execute("SELECT DISTINCT facility FROM nodes")}
    for fac, data in store.execute("SELECT facility, data FROM facilities"):
        try:
            names[fac] = str(json.loads(data).get("name") or fac)
        except (ValueError, AttributeError):
            names[fac] = fac
    return dict(sorted(names.items(), key=lambda kv: (kv[1].casefold(), kv[0])))


_NODES = (
    "SELECT n.node, n.facility, s.status_state, s.hello_ts, s.cursor_ts, s.status_ts,"
    " s.event_ts, s.applied_rev, coalesce(f.rev, 0), s.outbox_last, coalesce(e.through, 0),"
    " s.clock_trusted, s.clock_source, s.software"
    " FROM nodes n JOIN node_state s ON s.node = n.node"
    " LEFT JOIN facility_revs f ON f.facility = n.facility"
    " LEFT JOIN event_streams e ON e.node = n.node AND e.epoch = s.epoch"
)
_DEVICES = "SELECT d.node, d.kind, d.id, d.state, d.detail, d.since_ts FROM node_devices d"


def fleet(store: Store, now: int, facility: str | None = None, node: str | None = None) -> Fleet:
    """Every node (or one facility's, or one node) with its health (module rules)."""
    where, params = "", []
    if node is not None:
        where, params = " WHERE n.node = ?", [node]
    elif facility is not None:
        where, params = " WHERE n.facility = ?", [facility]
    with store.read():
        names = facility_names(store)
        rows = store.execute(_NODES + where + " ORDER BY n.facility, n.node", params).fetchall()
        if node is not None:
            dev_sql, dev_params = _DEVICES + " WHERE d.node = ?", [node]
        elif facility is not None:
            dev_sql = _DEVICES + " JOIN nodes n ON n.node = d.node WHERE n.facility = ?"
            dev_params = [facility]
        else:
            dev_sql, dev_params = _DEVICES, []
        devices = store.execute(dev_sql + " ORDER BY d.node, d.kind, d.id", dev_params).fetchall()
    out: dict[str, NodeRow] = {}
    stale: dict[str, bool] = {}
    for (n, fac, state, hello, cursor, status, event, applied, rev, last, through,
         trusted, source, software) in rows:  # fmt: skip
        heard = [t for t in (hello, cursor, status, event) if t is not None]
        out[n] = NodeRow(
            n,
            fac,
            names.get(str(fac), str(fac)),
            state == "online",
            max(heard) if heard else None,
            max(0, int(rev) - int(applied)),
            None if last is None else max(0, int(last) - int(through)),
            None if trusted is None else bool(trusted),
            source,
            software or "",
        )
        catch_up = max([t for t in (cursor, hello) if t is not None], default=None)
        stale[n] = catch_up is not None and now - catch_up > STALE_LAG_S
    for n, kind, ident, st, detail, since in devices:
        row = out.get(n)
        if row is None:
            continue
        dev = DeviceState(kind, ident, st, detail, int(since))
        if kind == "door":
            row.doors.append(dev)
        elif kind == "reader":
            row.readers.append(dev)
        elif kind == "tamper" and st == "active":
            row.tampered.append(ident)
    for row in out.values():
        row.problems = problems(row, stale[row.node])
    return Fleet(list(out.values()), names)


def problems(row: NodeRow, lag_stale: bool) -> list[str]:
    """What needs acting on for one node (module rules), as problem codes."""
    found = [] if row.online else ["offline"]
    found += [f"door_{d.state}" for d in row.doors if d.state in ALARM_DOOR_STATES]
    found += ["reader_offline" for r in row.readers if r.state != "online"]
    found += ["tamper" for _ in row.tampered]
    if row.clock_trusted is False:
        found.append("clock_untrusted")
    if row.lag > 0 and lag_stale:
        found.append("behind")
    return list(dict.fromkeys(found))


# --- a facility ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DoorView:
    id: str
    name: str
    node: str | None
    state: str | None  # as its node last reported; None: never reported
    since_ts: int | None
    unlock_seconds: int


@dataclass(frozen=True, slots=True)
class BookingView:
    id: str
    start_ts: int
    end_ts: int
    title: str
    holder: str  # a public name; "" for a private person or none
    holder_kind: str
    resources: list[str]
    status: str
    origin: str


@dataclass(frozen=True, slots=True)
class FacilityPage:
    id: str
    name: str
    tz: str
    day: str  # ISO date of "today" in the facility's zone
    nodes: list[NodeRow]
    doors: list[DoorView]
    readers: list[tuple[str, DeviceState, bool]]  # node, reader, tamper active
    bookings: list[BookingView]


def _records(store: Store, table: str, facility: str) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for ident, data in store.execute(
        f"SELECT id, data FROM {table} WHERE facility = ? ORDER BY id", [facility]
    ):
        try:
            rec = json.loads(data)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out[ident] = rec
    return out


def facility_page(store: Store, facility: str, now: int) -> FacilityPage | None:
    """The facility page's content, or None if central knows no such facility."""
    view = fleet(store, now, facility=facility)
    with store.read():
        fac = _records(store, "facilities", facility).get(facility)
        if fac is None and not view.rows:
            return None
        doors = _records(store, "doors", facility)
        resources = _records(store, "resources", facility)
        holders = _records(store, "holders", facility)
        tz = str((fac or {}).get("timezone") or "Europe/Stockholm")
        local = datetime.fromtimestamp(now, zone(tz))
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=1, hours=2)).replace(hour=0)
        booked = store.execute(
            "SELECT id, data, start_ts, end_ts FROM bookings WHERE facility = ?"
            " AND start_ts < ? AND end_ts > ? ORDER BY start_ts, id",
            [facility, to_ts(end), to_ts(start)],
        ).fetchall()
    reported = {d.id: (r.node, d) for r in view.rows for d in r.doors}
    door_views = []
    for ident, d in doors.items():
        node, dev = reported.get(ident, (None, None))
        secs = d.get("unlock_seconds", 5)
        door_views.append(
            DoorView(
                ident,
                str(d.get("name") or ident),
                node,
                None if dev is None else dev.state,
                None if dev is None else dev.since_ts,
                secs if isinstance(secs, int) else 5,
            )
        )
    for ident, (node, dev) in sorted(reported.items()):
        if ident not in doors:  # a door the node has that central's records lack
            door_views.append(DoorView(ident, ident, node, dev.state, dev.since_ts, 5))
    readers = [(r.node, d, d.id in r.tampered) for r in view.rows for d in r.readers]
    return FacilityPage(
        facility,
        str((fac or {}).get("name") or facility),
        tz,
        local.date().isoformat(),
        view.rows,
        door_views,
        readers,
        [_booking(i, d, s, e, holders, resources) for i, d, s, e in booked],
    )


def _booking(
    ident: str,
    data: str,
    start: int,
    end: int,
    holders: dict[str, dict[str, object]],
    resources: dict[str, dict[str, object]],
) -> BookingView:
    try:
        rec = json.loads(data)
    except ValueError:
        rec = {}
    holder = holders.get(str(rec.get("holder") or ""), {})
    kind = str(holder.get("kind") or "")
    name = "" if kind == "person" else str(holder.get("display_name") or "")
    res: Iterable[object] = rec.get("resources") or ()
    return BookingView(
        ident,
        int(start),
        int(end),
        str(rec.get("title") or ""),
        name,
        kind,
        [str(resources.get(str(r), {}).get("name") or r) for r in res],
        str(rec.get("status") or "confirmed"),
        str(rec.get("origin") or "central"),
    )

"""``hallvakt status --config FILE``: the node's health at a glance.

Reads only the node database and the kernel clock; never the network, never
the readers, so it answers also when every daemon is down. Exit status: 0 when
everything is as it should be, 1 when something needs a look (each such line
starts with ``!``), 78 for a broken config or a database that cannot be used
(missing directory, damaged file: one line saying what to do, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from firmware_config.config import load_or_exit
from firmware_config.model import NodeConfig
from sync.protocol.timeutil import age_s, parse_instant
from sync.replica import (
    Replica,
    ReplicaError,
    backlog,
    door_states,
    heartbeats,
    quarantine_count,
    reader_states,
)
from sync.replica.clock import kernel_clock_synced
from sync.replica.door_health import fresh_door_health
from sync.replica.integrity import BootCheck
from sync.replica.queries import outbox_age
from sync.replica.refusal import DAMAGED_ADVICE, advice, exit_status, open_or_exit

PROCESSES = ("door", "sync", "kiosk")
ALARMS = frozenset({"forced", "held_open"})
# A publish the broker refused this recently is a problem now (an ACL or a
# certificate to mend); an older one is history, shown in --json only.
REFUSAL_RECENT = timedelta(minutes=15)


@dataclass(slots=True)
class Report:
    lines: list[str] = field(default_factory=list)
    problems: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def ok(self, text: str) -> None:
        self.lines.append(f"  {text}")

    def bad(self, text: str) -> None:
        self.problems += 1
        self.lines.append(f"! {text}")


def _recent_refusal(detail: dict[str, Any], now: datetime) -> datetime | None:
    """When the link's last refused publish was, if within ``REFUSAL_RECENT``."""
    text = detail.get("last_refusal_at")
    try:
        at = parse_instant(str(text)) if text else None
    except ValueError:
        return None
    return at if at is not None and now - at < REFUSAL_RECENT else None


def age(delta: timedelta) -> str:
    return age_s(delta.total_seconds())


def collect(cfg: NodeConfig, rep: Replica, now: datetime, clock_trusted: bool) -> Report:
    """Everything ``status`` shows, as lines and as data."""
    r = Report()
    beats = {h.process: h for h in heartbeats(rep)}
    r.data["processes"] = {}
    for name in PROCESSES:
        h = beats.get(name)
        if h is None:
            r.bad(f"{name}: never seen running")
            r.data["processes"][name] = None
            continue
        alive = h.alive(now)
        state = "running" if alive else "NOT RUNNING"
        line = (
            f"{name}: {state} (pid {h.pid}, last beat {age(now - h.beat)} ago,"
            f" up {age(h.beat - h.started)})"
        )
        (r.ok if alive else r.bad)(line)
        r.data["processes"][name] = {"alive": alive, "pid": h.pid, "detail": h.detail}
    link = beats.get("sync")
    if link is not None and link.alive(now):
        if link.detail.get("connected"):
            r.ok("link: connected to the broker")
        else:
            r.bad("link: NOT connected to the broker (events wait in the outbox)")
        refused = _recent_refusal(link.detail, now)
        if refused is not None:
            r.bad(
                f"link: the broker refused {link.detail.get('refused_publishes')} publishes,"
                f" the last {age(now - refused)} ago ({link.detail.get('last_refusal')});"
                " its ACL must let this node's certificate write its topics"
            )
    readers = {s.reader: s for s in reader_states(rep)}
    for rd in cfg.readers:
        s = readers.get(rd.id)
        if s is None:
            r.bad(f"reader {rd.id}: no report yet")
        elif s.online:
            r.ok(f"reader {rd.id}: online since {age(now - s.since)}")
        else:
            r.bad(f"reader {rd.id}: OFFLINE ({s.detail}) for {age(now - s.since)}")
    for d in door_states(rep):
        line = f"door {d.door}: {d.state} for {age(now - d.since)}"
        (r.bad if d.state in ALARMS or d.state == "lockdown" else r.ok)(line)
    health = fresh_door_health(cfg.database, now)  # beside the database: shown on a full disk too
    for f in health.faults if health is not None else ():
        r.bad(f"door: database fault for {age(now - f.since)}: {f.detail}; {f.consequence}")
    if health is not None and (health.journalled or health.in_memory):
        r.bad(f"door: {health.journalled} events journalled, {health.in_memory} held in memory")
    r.data["door_faults"] = [f.kind.value for f in health.faults] if health is not None else []
    st = rep.state()
    policy = rep.policy()
    r.data["sync"] = {"applied_rev": st.applied_rev, "head_rev": st.head_rev}
    if st.head_seen_at is None:
        r.bad(f"data: rev {st.applied_rev}, never confirmed by central (doors admit staff only)")
    else:
        data_age = now - st.head_seen_at
        stale = data_age > timedelta(hours=policy.max_offline_hours)
        line = (
            f"data: rev {st.applied_rev} of {st.head_rev},"
            f" last heard from central {age(data_age)} ago"
        )
        if stale:
            r.bad(line + f" — STALE (> {policy.max_offline_hours} h): doors admit staff only")
        elif st.head_rev is not None and st.head_rev > st.applied_rev:
            r.bad(line + " — behind central")
        else:
            r.ok(line)
    waiting, oldest = backlog(rep), outbox_age(rep)
    r.data["outbox"] = {"backlog": waiting}
    if waiting == 0:
        r.ok("outbox: empty (central has every event)")
    else:
        assert oldest is not None
        line = f"outbox: {waiting} events waiting, oldest {age(now - oldest)}"
        (r.bad if now - oldest > timedelta(minutes=10) else r.ok)(line)
    _integrity(cfg, r)
    q = quarantine_count(rep)
    if q:
        r.bad(f"quarantine: {q} messages from the broker were refused (see the sync log)")
    door = beats.get("door")
    door_view = door.detail.get("clock_trusted") if door is not None and door.alive(now) else None
    r.data["clock_trusted"] = clock_trusted
    if clock_trusted:
        r.ok("clock: synchronised (NTP)")
    elif door_view is True:
        r.bad(
            "clock: NOT synchronised, but the door controller was told to trust it (--trust-clock)"
        )
    else:
        r.bad("clock: NOT synchronised: doors admit staff grants only (PROTOCOL.md §7)")
    return r


def _integrity(cfg: NodeConfig, r: Report) -> None:
    """What the link's once-per-boot database check found (sync.replica.integrity)."""
    last = BootCheck(cfg.database).last()
    r.data["database_check"] = (
        None if last is None else {"damaged": last.damaged, "corrupt": last.corrupt}
    )
    if last is None:
        return
    if last.damaged is not None:
        r.bad(f"database: DAMAGED ({last.damaged}): {DAMAGED_ADVICE}")
    elif last.corrupt is not None:
        r.bad(
            f"database: a stored record is corrupt ({last.corrupt}); the link asks for a snapshot"
        )
    else:
        r.ok(f"database: checked in {last.seconds:.1f} s this boot, sound")


def run_status(args: argparse.Namespace) -> int:
    """``hallvakt status --config FILE [--json]``."""
    cfg = load_or_exit(args.config)
    now = datetime.now(UTC)
    try:
        with open_or_exit(cfg.database, default_tz=cfg.timezone, create_dir=False) as rep:
            report = collect(cfg, rep, now, kernel_clock_synced())
    except ReplicaError as exc:  # found while reading (a damaged page)
        print(f"{exc}: {advice(exc)}", file=sys.stderr)
        return exit_status(exc)
    if args.json:
        print(json.dumps({**report.data, "problems": report.problems}, indent=2, default=str))
    else:
        print(f"Hallvakt node {cfg.node_id} ({cfg.facility_id})")
        print("\n".join(report.lines))
    return 0 if report.problems == 0 else 1

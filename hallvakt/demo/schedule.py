"""``hallvakt demo --db FILE [--seed N] [--date D]``: a demo node database, and
the day's schedule printed as the kiosk's Today screen lists it.

Rules this module guarantees:
- Only ``FILE`` (and its ``-wal`` and ``-shm``) is written, made again from
  ``hallvakt.demo.data`` for the day; nothing is started.
- The schedule is in Swedish, in facility time: each resource's bookings, the
  whole hall's shown on its sections, preliminary ones marked, and the free
  walk-in slots this demo node may sell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from hallvakt.demo.data import DEMO_NODE, demo_credentials, generate, load_into
from sync.protocol.timeutil import day_bounds, zone
from sync.replica import (
    Replica,
    Resource,
    ScheduleEntry,
    day_schedule,
    free_slots,
    resource_tree,
)

from .world import DEMO_TZ


def run_schedule(db: Path, seed: int, day: date | None) -> int:
    """Recreate a demo node database at ``db`` and print the day's schedule."""
    day = day or datetime.now(zone(DEMO_TZ)).date()
    db.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    entities = generate(seed=seed, today=day, tz=DEMO_TZ)
    with Replica.open(db) as rep:
        loaded = load_into(rep, entities, rev=1, now=datetime.now(UTC))
        print_schedule(rep, day)
    print(f"Demo database: {db} (rev 1, {loaded} records, seed {seed})")
    print(f"Walk-in leases held by node {DEMO_NODE}. Demo credentials (demo credential key):")
    for label, what in demo_credentials(entities, seed=seed, today=day).items():
        print(f"  {label}: {what}")
    return 0


def print_schedule(rep: Replica, day: date) -> None:
    """Print each resource's bookings on ``day`` (facility time) and free walk-in slots."""
    from kiosk.i18n import translator
    from kiosk.texts import date_text

    facility = rep.facility()
    title = facility.name if facility else "Anläggningen"
    when = date_text(translator("sv"), day)  # the kiosk's words: "måndag 2 mars 2026"
    print(f"Dagens bokningar – {title}, {when}\n")
    resources = resource_tree(rep)
    lo, hi = day_bounds(day, rep.tz)
    for rid, entries in day_schedule(rep, day).items():
        res = resources[rid]
        print(res.name)
        for entry in entries:
            print("  " + _line(entry, resources))
        if not entries:
            print("  Inga bokningar")
        if res.walkin_slot_minutes is not None:
            slots = free_slots(rep, DEMO_NODE, rid, lo, hi)
            starts = " ".join(f"{s.start.astimezone(rep.tz):%H:%M}" for s in slots) or "inga"
            print(f"  Lediga drop-in-tider ({res.walkin_slot_minutes} min): {starts}")
    print()


def _line(entry: ScheduleEntry, resources: Mapping[str, Resource]) -> str:
    label = entry.label or "Bokad"
    if entry.via is not None:
        via = resources.get(entry.via)
        label += " (hela hallen)" if via is None or via.kind == "hall" else f" ({via.name})"
    if entry.booking.status == "tentative":
        label += " [preliminär]"
    return f"{entry.start_local:%H:%M}–{entry.end_local:%H:%M}  {label}"

"""How long central keeps evidence, and pruning it (docs/privacy.md).

Rules this module guarantees:
- A facility's evidence is kept by its municipality's ``keep_years``
  (settings.py): a session that ended in year Y (facility time) is kept
  until the end of year Y + keep_years, then deleted on the next prune (the
  gateway prunes hourly). The default, 4, keeps a session of a spring period
  through the three years after the grant for it was paid.
- The raw node events of the facility's nodes are pruned by the same cutoff
  (they hold credential digests, and nothing older than the evidence needs
  them); only events central has acknowledged (seq <= ``through``) go.
- Pruning is idempotent and deletes nothing younger than the cutoff.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time

from sync.protocol.timeutil import local_to_instant, to_ts, zone

from ..store import Store
from .settings import Evidence

LAST_TS = "coalesce(end_ts, last_entry_ts, no_show_ts, released_ts, start_report_ts, end_report_ts)"


def cutoff(now: datetime, tz: str, keep_years: int) -> datetime:
    """The instant before which a facility's evidence is deleted: local midnight
    opening 1 January of (this year - keep_years)."""
    z = zone(tz)
    year = now.astimezone(z).year
    return local_to_instant(date(year - keep_years, 1, 1), time(0), z)


def prune(store: Store, now: datetime, settings: Evidence) -> dict[str, int]:
    """Delete what is past retention (module rules); evidence rows deleted per facility."""
    out: dict[str, int] = {}
    facilities = store.execute("SELECT id, data FROM facilities").fetchall()
    for fid, data in facilities:
        record = json.loads(data)
        keep = settings.for_municipality(str(record.get("municipality", ""))).keep_years
        edge = to_ts(cutoff(now, str(record.get("timezone") or "Europe/Stockholm"), keep))
        with store.write():
            store.lock("facility", fid)
            res = store.execute(
                f"DELETE FROM evidence WHERE facility = ? AND {LAST_TS} < ?", [fid, edge]
            )
            store.execute(
                "DELETE FROM events WHERE at_ts < ? AND node IN"
                " (SELECT node FROM nodes WHERE facility = ?) AND seq <= (SELECT s.through"
                " FROM event_streams s WHERE s.node = events.node AND s.epoch = events.epoch)",
                [edge, fid],
            )
        if res.rowcount:
            out[fid] = res.rowcount
    return out

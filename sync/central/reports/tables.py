"""Every report as one flat table (stable column names), and CSV bytes of it.

Rules this module guarantees:
- ``table(report)`` returns ``(columns, rows)``: the same data as the PDF, one
  row per item, plain values (ISO dates, facility-local ``HH:MM`` times,
  whole minutes, integers). Column names are stable machine names in English
  (docs/reports.md lists them); the web page and spreadsheets rely on them.
- ``csv_bytes`` writes UTF-8 with a byte-order mark and ``;`` between fields
  (what spreadsheet programs in Swedish settings open without an import
  dialog), RFC 4180 quoting, ``\\r\\n`` line ends. A cell that starts like a
  formula (``= + - @``) is prefixed with ``'`` so a spreadsheet never runs it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .attendance import AttendanceReport
from .claims import ClaimsReport
from .noshows import NoShowReport
from .usage import WEEKDAYS, Minutes, UsageReport

Columns = tuple[str, ...]
Rows = list[list[Any]]

MINUTES = ("booked_min", "used_min", "not_entered_min", "no_show_min", "pending_min", "walkin_min")


def _m(m: Minutes) -> list[int]:
    return [m.booked, m.used, m.not_entered, m.no_show, m.pending, m.walkin]


def _t(ts: int | None, tz: ZoneInfo, fmt: str = "%H:%M") -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, tz).strftime(fmt)


def usage_table(r: UsageReport) -> tuple[Columns, Rows]:
    cols = (
        "level",
        "facility",
        "facility_name",
        "resource",
        "resource_name",
        "weekday",
        "hour",
        *MINUTES,
    )
    rows: Rows = []
    for u in r.facilities:
        f = u.facility
        rows.append(["facility", f.id, f.name, "", "", "", "", *_m(u.total)])
        for rid, m in u.resources.items():
            rows.append(["resource", f.id, f.name, rid, f.resource_name(rid), "", "", *_m(m)])
        for d in range(7):
            for h in range(24):
                b, used, walk = u.heat_booked[d][h], u.heat_used[d][h], u.heat_walkin[d][h]
                if b or walk:
                    rows.append(
                        ["hour", f.id, f.name, "", "", WEEKDAYS[d], h, b, used, "", "", "", walk]
                    )
    return cols, rows


def noshows_table(r: NoShowReport) -> tuple[Columns, Rows]:
    cols = (
        "holder",
        "holder_name",
        "season_from",
        "season_to",
        "season_partial",
        "strike",
        "strikes",
        "threshold",
        "flagged",
        "booked_in_period",
        "date",
        "start",
        "end",
        "facility",
        "resources",
        "title",
        "kind",
        "booking",
    )
    rows: Rows = []
    for s in r.seasons:
        for n in s.no_shows:
            tz = n.facility.tz
            rows.append(
                [
                    s.holder,
                    s.name,
                    s.first.isoformat(),
                    s.last.isoformat(),
                    int(s.partial),
                    n.strike,
                    s.strikes,
                    s.threshold,
                    int(s.flagged),
                    r.booked.get(s.holder, 0),
                    _t(n.row.start_ts, tz, "%Y-%m-%d"),
                    _t(n.row.start_ts, tz),
                    _t(n.row.end_ts, tz),
                    n.facility.id,
                    " ".join(n.row.resources),
                    n.row.title,
                    n.kind,
                    n.row.booking,
                ]
            )
    return cols, rows


def attendance_table(r: AttendanceReport) -> tuple[Columns, Rows]:
    cols = (
        "holder",
        "holder_name",
        "period_from",
        "period_to",
        "date",
        "start",
        "end",
        "facility",
        "resources",
        "title",
        "booking",
        "first_entry",
        "entry_delay_min",
        "last_entry",
        "entries",
        "leader_card",
        "participants",
        "leaders",
        "minutes",
        "counted",
        "meets",
        "reasons",
        "same_day",
        "rule",
    )
    rows: Rows = []
    for a in r.sessions:
        tz, row, j = a.facility.tz, a.row, a.judgement
        meets = "pending" if j is None else ("yes" if j.meets else "no")
        rows.append(
            [
                row.holder,
                a.facility.holder_name(row.holder),
                a.period[0].isoformat(),
                a.period[1].isoformat(),
                _t(row.start_ts, tz, "%Y-%m-%d"),
                _t(row.start_ts, tz),
                _t(row.end_ts, tz),
                a.facility.id,
                " ".join(row.resources),
                row.title,
                row.booking,
                _t(row.first_entry_ts, tz),
                "" if a.entry_delay is None else a.entry_delay,
                _t(row.last_entry_ts, tz),
                row.entries,
                int(row.leader_entry_ts is not None),
                "" if row.participants is None else row.participants,
                "" if row.leaders is None else row.leaders,
                "" if j is None or j.minutes is None else j.minutes,
                "" if j is None or j.counted is None else j.counted,
                meets,
                "" if j is None else " ".join(j.reasons),
                int(a.same_day),
                a.rule.name,
            ]
        )
    return cols, rows


def claims_table(r: ClaimsReport) -> tuple[Columns, Rows]:
    cols = (
        "line",
        "date",
        "start",
        "end",
        "place",
        "participants",
        "leaders",
        "activity",
        "facility",
        "resource",
        "booking",
        "booked_start",
        "booked_end",
        "first_entry",
        "headcount",
        "verdict",
        "duplicate_of_line",
        "notes",
    )
    rows: Rows = []
    for c in r.checked:
        cl, row = c.claim, c.row
        tz = c.place.facility.tz if c.place else ZoneInfo("UTC")
        rows.append(
            [
                cl.line,
                cl.day.isoformat(),
                f"{cl.start:%H:%M}",
                f"{cl.end:%H:%M}",
                cl.place,
                cl.participants,
                "" if cl.leaders is None else cl.leaders,
                cl.activity,
                c.place.facility.id if c.place else "",
                (c.place.resource or "") if c.place else "",
                row.booking if row else "",
                _t(row.start_ts if row else None, tz),
                _t(row.end_ts if row else None, tz),
                _t(row.first_entry_ts if row else None, tz),
                "" if row is None or row.participants is None else row.participants,
                c.verdict,
                "" if c.backs is None else c.backs,
                "; ".join(n.text() for n in c.notes),
            ]
        )
    return cols, rows


def table(report: Any) -> tuple[Columns, Rows]:
    """Any report as ``(columns, rows)`` (module rules)."""
    if isinstance(report, UsageReport):
        return usage_table(report)
    if isinstance(report, NoShowReport):
        return noshows_table(report)
    if isinstance(report, AttendanceReport):
        return attendance_table(report)
    if isinstance(report, ClaimsReport):
        return claims_table(report)
    raise TypeError(f"not a report: {type(report).__name__}")


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The table as CSV bytes (module rules)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(columns)
    w.writerows([_safe(v) for v in r] for r in rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")

"""The evidence reports on the web page: what a grants officer asks, and what the page shows.

The reports themselves are issue 16's (``sync.central.reports``: ``build``,
``rows``, ``write``, ``read_claims``); this module only turns a request's
fields into their ``Query`` and the result into what the page shows. No
HTTP here (routes_reports.py is the page).

Rules this module guarantees:
- ``ask(fields, choices, today)`` reads a report request from a form's or a
  URL's fields: ``kind`` one of ``KINDS``; the period as one of the grant
  rule's reporting periods (``period`` = ``FROM..TO``) or two ISO dates
  (``from``, ``to``, at most ``MAX_DAYS`` apart); ``facility`` ``all`` or a
  facility central holds; ``association`` one of central's associations
  (needed by the claims check). Anything else raises ``Refused`` with every
  problem, and nothing is read from the store or the file system: a field is
  never a path, and the file name of a download is made from the checked
  fields only (``file_name``).
- ``periods(rule_periods, today)`` are the reporting periods of this year and
  the two before it, newest first (a grants officer reports per period).
- ``view(report, lang)`` is the report as the page shows it: per kind a
  selection of ``rows(report)``'s columns with headings and coded values in
  the page's language (the reports' own words, ``reports.words``), at most
  ``MAX_ROWS`` rows (the download has them all); for usage, per facility its
  resources' hours and the weekday x hour grid, which is also the heatmap's
  text alternative.
- ``heatmap(report, facility, lang)`` is one facility's heatmap PNG, as the
  PDF draws it (``reports.charts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ..evidence.rules import check_periods
from ..reports import KINDS, Query, Report, rows
from ..reports import data as report_data
from ..reports.usage import FacilityUsage, Minutes, UsageReport
from ..reports.words import word
from ..store import Store
from .numbers import Numbers, numbers

FORMATS = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}
MAX_DAYS = 400  # a season, or a whole year with room to spare
MAX_ROWS = 500
TITLES = {"usage": "usage", "no-shows": "noshows", "attendance": "attendance", "claims": "claims"}


class Refused(ValueError):
    """A report request the page does not make; ``problems`` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Choices:
    """What the form offers: facilities and associations central holds (id -> name)."""

    facilities: Mapping[str, str]
    associations: Mapping[str, str]


def choices(store: Store) -> Choices:
    """The facilities and associations of central's store, by name."""
    facs = report_data.facilities(store, None)
    assoc: dict[str, str] = {}
    for f in facs:
        for hid, (kind, name) in f.holders.items():
            if kind == "association":
                assoc[hid] = name
    return Choices(
        dict(sorted(((f.id, f.name) for f in facs), key=lambda x: x[1].casefold())),
        dict(sorted(assoc.items(), key=lambda x: x[1].casefold())),
    )


def periods(rule_periods: Sequence[str], today: date, years: int = 3) -> list[tuple[date, date]]:
    """The reporting periods of this year and the ones before it, newest first,
    none starting after ``today``."""
    out: list[tuple[date, date]] = []
    for year in range(today.year, today.year - years, -1):
        for a, b, c, d in reversed(check_periods(tuple(rule_periods))):
            first = date(year, a, b)
            if first <= today:
                out.append((first, date(year, c, d)))
    return out


@dataclass(frozen=True, slots=True)
class Ask:
    """A checked report request."""

    kind: str
    start: date
    end: date
    facility: str | None  # None: every facility
    association: str | None

    def query(self, now: datetime) -> Query:
        return Query(None if self.facility is None else (self.facility,), self.start, self.end, now)

    def fields(self) -> dict[str, str]:
        """The request as URL fields (``ask`` reads them back)."""
        out = {
            "kind": self.kind,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "facility": self.facility or "all",
        }
        if self.association:
            out["association"] = self.association
        return out


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def ask(fields: Mapping[str, str], offer: Choices) -> Ask:
    """The request ``fields`` make (module rules), or ``Refused``."""
    problems: list[str] = []
    kind = fields.get("kind", "")
    if kind not in KINDS:
        problems.append("kind")
    start = end = None
    if fields.get("period", ""):
        first, _, last = fields["period"].partition("..")
        start, end = _day(first), _day(last)
    else:
        start, end = _day(fields.get("from", "")), _day(fields.get("to", ""))
    if start is None or end is None or end < start or (end - start).days > MAX_DAYS:
        problems.append("period")
    facility: str | None = fields.get("facility", "all") or "all"
    if facility == "all":
        facility = None
    elif facility not in offer.facilities:
        problems.append("facility")
    association = fields.get("association", "") or None
    if association is not None and association not in offer.associations:
        problems.append("association")
    if kind == "claims" and association is None:
        problems.append("association")
    if problems or start is None or end is None:
        raise Refused(problems)
    return Ask(kind, start, end, facility, association)


def file_name(a: Ask, fmt: str) -> str:
    """The download's file name, from checked fields only."""
    where = a.facility or "all"
    return f"{a.kind}-{where}-{a.start.isoformat()}-{a.end.isoformat()}.{fmt}"


# --- what the page shows --------------------------------------------------------------

# per kind: the columns of ``rows(report)`` the page shows, and their headings' words
# (reports.words keys, or (sv, en) where the reports have none)
_H: dict[str, str | tuple[str, str]] = {
    "holder_name": "holder",
    "date": "date",
    "start": ("Start", "Start"),
    "end": ("Slut", "End"),
    "facility": ("Anläggning", "Facility"),
    "resources": "resource",
    "resource": "resource",
    "title": ("Titel", "Title"),
    "kind": ("Typ", "Kind"),
    "strike": ("Nr", "No."),
    "strikes": ("Uteblivna i säsongen", "No-shows in the season"),
    "flagged": "flag",
    "first_entry": "first_in",
    "entry_delay_min": ("Min efter start", "Min after start"),
    "participants": "heads",
    "leaders": "leaders",
    "minutes": "minutes",
    "counted": "counted",
    "meets": "meets",
    "reasons": ("Skäl", "Reasons"),
    "line": "line",
    "place": "place",
    "booking": "booking",
    "booked_start": ("Bokat från", "Booked from"),
    "booked_end": ("Bokat till", "Booked to"),
    "headcount": ("Antal vid start", "Headcount at start"),
    "verdict": "verdict",
    "notes": "notes",
}
_SHOWN = {
    "no-shows": (
        "holder_name", "date", "start", "end", "facility", "resources", "title", "kind",
        "strike", "strikes", "flagged",
    ),
    "attendance": (
        "holder_name", "date", "start", "end", "facility", "title", "first_entry",
        "entry_delay_min", "participants", "leaders", "minutes", "counted", "meets", "reasons",
    ),
    "claims": (
        "line", "date", "start", "end", "place", "participants", "booking", "booked_start",
        "booked_end", "first_entry", "headcount", "verdict", "notes",
    ),
}  # fmt: skip
_WRAPS = frozenset({"holder_name", "title", "reasons", "notes", "verdict", "place", "facility"})
_NUMERIC = frozenset(
    {"strike", "strikes", "entry_delay_min", "participants", "leaders", "minutes", "counted"}
    | {"line", "headcount"}
)


def _heading(lang: str, col: str) -> str:
    h = _H[col]
    return word(lang, h) if isinstance(h, str) else h[0 if lang == "sv" else 1]


def _value(lang: str, col: str, value: Any) -> str:
    if col in _NUMERIC and isinstance(value, int | float) and not isinstance(value, bool):
        n = numbers(lang)
        return n.count(value) if isinstance(value, int) else n.dec(value, 1)
    text = "" if value is None else str(value)
    if col == "kind" and text in ("no_show", "released"):
        return word(lang, text)
    if col == "meets" and text in ("yes", "no", "pending"):
        return word(lang, text)
    if col == "flagged":
        return word(lang, "flagged") if text == "1" else ""
    if col == "verdict":
        try:
            return word(lang, f"v.{text}")
        except KeyError:
            return text
    if col == "reasons":
        out = []
        for r in text.split():
            try:
                out.append(word(lang, f"reason.{r}"))
            except KeyError:
                out.append(r)
        return ", ".join(out)
    return text


@dataclass(frozen=True, slots=True)
class Table:
    caption: str
    headings: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    total_rows: int
    compact: bool = False  # many narrow columns: no wrapping inside a cell
    wraps: list[bool] = field(default_factory=list)  # per column: text that may wrap


@dataclass(frozen=True, slots=True)
class UsageFacility:
    id: str
    name: str
    summary: Table  # resources and total, hours
    grid: Table  # weekday x hour: booked hours (used %)


@dataclass(frozen=True, slots=True)
class View:
    kind: str
    title: str
    table: Table | None = None
    usage: list[UsageFacility] = field(default_factory=list)
    note: str = ""


def _h(n: Numbers, minutes: int) -> str:
    """Hours with one decimal, as the page's language writes them ("1,5" in Swedish)."""
    return n.dec(minutes / 60, 1)


def _minutes_row(n: Numbers, label: str, m: Minutes) -> list[str]:
    hours = (m.booked, m.used, m.not_entered, m.no_show, m.pending, m.walkin)
    booked, used, *rest = (_h(n, x) for x in hours)
    return [label, booked, used, n.pct(m.used, m.booked), *rest]


def _usage_facility(lang: str, u: FacilityUsage) -> UsageFacility:
    def w(key: str) -> str:
        return word(lang, key)

    heads = [w("resource"), w("booked_h"), w("used_h"), w("used_pct"), w("not_entered_h")]
    heads += [w("no_show_h"), w("pending_h"), w("walkin_h")]
    n = numbers(lang)
    body = [
        _minutes_row(n, u.facility.resource_name(rid), m)
        for rid, m in u.resources.items()
        if m.booked or m.walkin
    ]
    body.append(_minutes_row(n, w("total"), u.total))
    caption = "Timmar per lokal" if lang == "sv" else "Hours per resource"
    summary = Table(caption, heads, [False] + [True] * 7, body, len(body))
    days = w("days").split()
    hours = [h for h in range(24) if any(u.heat_booked[d][h] for d in range(7))]
    grid_rows = []
    for d in range(7):
        cells = [days[d]]
        for h in hours:
            b, used = u.heat_booked[d][h], u.heat_used[d][h]
            cells.append(f"{_h(n, b)} ({n.pct(used, b)})" if b else "–")
        grid_rows.append(cells)
    grid = Table(
        f"{w('heat_title')} – {u.facility.name}",
        ["", *(f"{h:02d}" for h in hours)],
        [False] + [True] * len(hours),
        grid_rows,
        7,
        compact=True,
    )
    return UsageFacility(u.facility.id, u.facility.name, summary, grid)


def view(report: Report, kind: str, lang: str, names: Mapping[str, str]) -> View:
    """What the page shows of ``report`` (module rules); ``names``: facility
    id -> name, for the facility column."""
    title = word(lang, TITLES[kind])
    if isinstance(report, UsageReport):
        return View(
            kind,
            title,
            usage=[_usage_facility(lang, u) for u in report.facilities],
            note=word(lang, "usage_note"),
        )
    columns, body = rows(report)
    shown = _SHOWN[kind]
    index = [columns.index(c) for c in shown]
    out = [
        [
            names.get(str(r[i]), str(r[i])) if c == "facility" else _value(lang, c, r[i])
            for c, i in zip(shown, index, strict=True)
        ]
        for r in body
    ]
    table = Table(
        title,
        [_heading(lang, c) for c in shown],
        [c in _NUMERIC for c in shown],
        out[:MAX_ROWS],
        len(out),
        wraps=[c in _WRAPS for c in shown],
    )
    note = word(lang, "attendance_note") if kind == "attendance" else ""
    return View(kind, title, table=table, note=note)


def heatmap(report: UsageReport, facility: str, lang: str) -> bytes | None:
    """One facility's heatmap PNG (as the PDF's), or None if it is not in the report."""
    from ..reports import charts  # matplotlib only when an image is asked for

    for u in report.facilities:
        if u.facility.id == facility:
            return charts.heatmap(
                u.heat_booked,
                u.heat_used,
                word(lang, "days").split(),
                f"{word(lang, 'heat_title')} – {u.facility.name}",
                word(lang, "heat_booked"),
                word(lang, "heat_share"),
            )
    return None


def today_in(tz: str, now: int) -> date:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(now, ZoneInfo(tz)).date()


def default_period(found: Sequence[tuple[date, date]], today: date) -> tuple[date, date]:
    """The period holding ``today``, else the last 30 days."""
    for first, last in found:
        if first <= today <= last:
            return first, last
    return today - timedelta(days=30), today

"""PDF reports: reportlab lays out the pages, matplotlib draws the charts (charts.py).

Rules this module guarantees:
- ``render(report, lang)`` returns the PDF's bytes for any of the four
  reports; nothing is written to disk and no global state is touched (fonts
  are registered once, idempotently).
- Text is DejaVu Sans (shipped with matplotlib, so no system font is needed),
  at least 8 pt, dark grey on white (contrast above 7:1); the document has a
  title, subject, author and language (``/Lang``) for assistive technology,
  and a page footer with the report's name and page number. The CSV of the
  same report holds every number in a form screen readers and spreadsheets
  read well; the PDF is for printing and looking.
- Tables repeat their header row on every page; long tables break between rows.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import matplotlib
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.doctemplate import BaseDocTemplate

from ..evidence.rules import GrantRule
from . import charts
from .attendance import AttendanceReport
from .claims import ClaimsReport
from .data import Query
from .noshows import NoShowReport
from .usage import FacilityUsage, Minutes, UsageReport
from .words import word

FONT, BOLD = "HallvaktSans", "HallvaktSans-Bold"
INK = colors.HexColor("#222222")
RULE = colors.HexColor("#8C8C8C")
SHADE = colors.HexColor("#EEF2F6")
WIDTH = A4[0] - 30 * mm


def _fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(ttf / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(ttf / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle(
        "body", fontName=FONT, fontSize=9, leading=12, textColor=INK, alignment=TA_LEFT
    )
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=9.5),
        "h1": ParagraphStyle(
            "h1", parent=base, fontName=BOLD, fontSize=16, leading=20, spaceAfter=4
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=BOLD,
            fontSize=12,
            leading=15,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
        ),
        "h3": ParagraphStyle(
            "h3",
            parent=base,
            fontName=BOLD,
            fontSize=10,
            leading=13,
            spaceBefore=6,
            spaceAfter=2,
            keepWithNext=1,
        ),
    }


class _Doc:
    """A document being built: styles, language, flowables."""

    def __init__(self, lang: str, landscape: bool = False) -> None:
        _fonts()
        self.lang = lang
        self.pagesize = (A4[1], A4[0]) if landscape else A4
        self.s = _styles()
        self.story: list[Flowable] = []

    def w(self, key: str, **fmt: object) -> str:
        return word(self.lang, key, **fmt)

    def p(self, text: str, style: str = "body") -> None:
        self.story.append(Paragraph(escape(text), self.s[style]))

    def image(self, png: bytes, width: float = WIDTH) -> Image:
        img = Image(io.BytesIO(png))
        ratio = width / img.imageWidth
        img.drawWidth, img.drawHeight = width, img.imageHeight * ratio
        return img

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[Any]],
        widths: Sequence[float],
        numeric: Sequence[int] = (),
        bold_last: bool = False,
    ) -> Table:
        cell = self.s["cell"]
        head = ParagraphStyle("head", parent=cell, fontName=BOLD)
        data = [[Paragraph(escape(h), head) for h in header]]
        data += [[Paragraph(escape(str(v)), cell) for v in r] for r in rows]
        t = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        style: list[Any] = [
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
        style += [("ALIGN", (c, 0), (c, -1), "RIGHT") for c in numeric]
        if bold_last and rows:
            style.append(("BACKGROUND", (0, -1), (-1, -1), SHADE))
        t.setStyle(TableStyle(style))
        return t

    def header(self, title: str, q: Query, facilities: Sequence[str], extra: Sequence[str]) -> None:
        self.p(title, "h1")
        who = ", ".join(facilities) if q.facilities is not None else self.w("all")
        lines = [
            f"{self.w('period')}: {q.start.isoformat()} – {q.end.isoformat()}",
            f"{self.w('facilities')}: {who}",
            f"{self.w('made')}: {_stamp(q.now)}",
            *extra,
        ]
        for line in lines:
            self.p(line, "small")
        self.p(self.w("source"), "small")
        self.story.append(Spacer(1, 4 * mm))

    def build(self, title: str, subject: str) -> bytes:
        buf = io.BytesIO()
        doc = SimpleDocTemplate(
            buf,
            pagesize=self.pagesize,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=14 * mm,
            bottomMargin=16 * mm,
            title=title,
            subject=subject,
            author="Hallvakt",
            creator="Hallvakt central",
            lang="sv-SE" if self.lang == "sv" else "en",
            invariant=True,
        )
        page = self.w("page")

        def footer(canvas: Any, d: BaseDocTemplate) -> None:
            canvas.saveState()
            canvas.setFont(FONT, 8)
            canvas.setFillColor(INK)
            canvas.drawString(15 * mm, 9 * mm, title)
            canvas.drawRightString(self.pagesize[0] - 15 * mm, 9 * mm, f"{page} {d.page}")
            canvas.restoreState()

        if not self.story:
            self.p(self.w("none"))
        doc.build(self.story, onFirstPage=footer, onLaterPages=footer)
        return buf.getvalue()


def _stamp(at: datetime) -> str:
    return at.astimezone(ZoneInfo("Europe/Stockholm")).strftime("%Y-%m-%d %H:%M")


def _h(minutes: int) -> str:
    return f"{minutes / 60:.1f}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def _d(day: date) -> str:
    return day.isoformat()


# --- usage -----------------------------------------------------------------------


def _minutes_row(label: str, m: Minutes) -> list[str]:
    return [
        label,
        _h(m.booked),
        _h(m.used),
        _pct(m.used, m.booked),
        _h(m.not_entered),
        _h(m.no_show),
        _h(m.pending),
        _h(m.walkin),
    ]


def _usage(doc: _Doc, r: UsageReport) -> None:
    w = doc.w
    header = [
        w("resource"),
        w("booked_h"),
        w("used_h"),
        w("used_pct"),
        w("not_entered_h"),
        w("no_show_h"),
        w("pending_h"),
        w("walkin_h"),
    ]
    widths = (50, 18, 18, 15, 22, 22, 19, 16)
    doc.p(w("usage_note"), "small")
    if len(r.facilities) > 1:
        top = sorted(r.facilities, key=lambda u: -u.total.booked)[:25]
        png = charts.bars(
            [u.facility.name for u in top],
            [
                (w("booked"), [u.total.booked / 60 for u in top]),
                (w("used"), [u.total.used / 60 for u in top]),
            ],
            w("facility_bars"),
            w("hours"),
        )
        doc.story.append(doc.image(png))
        rows = [_minutes_row(u.facility.name, u.total) for u in r.facilities]
        total = Minutes()
        for u in r.facilities:
            for k in ("booked", "used", "not_entered", "no_show", "pending", "walkin"):
                setattr(total, k, getattr(total, k) + getattr(u.total, k))
        rows.append(_minutes_row(w("total"), total))
        doc.story.append(
            doc.table([w("facilities"), *header[1:]], rows, widths, range(1, 8), bold_last=True)
        )
        doc.story.append(PageBreak())
    for u in r.facilities:
        doc.story.append(KeepTogether(_usage_facility(doc, u, header, widths)))


def _usage_facility(
    doc: _Doc, u: FacilityUsage, header: list[str], widths: Sequence[int]
) -> list[Flowable]:
    """One facility's table and heatmap, to keep on one page."""
    w = doc.w
    rows = [
        _minutes_row(u.facility.resource_name(rid), m)
        for rid, m in u.resources.items()
        if m.booked or m.walkin
    ]
    rows.append(_minutes_row(w("total"), u.total))
    png = charts.heatmap(
        u.heat_booked,
        u.heat_used,
        w("days").split(),
        f"{w('heat_title')} – {u.facility.name}",
        w("heat_booked"),
        w("heat_share"),
    )
    return [
        Paragraph(escape(u.facility.name), doc.s["h2"]),
        doc.table(header, rows, widths, range(1, 8), bold_last=True),
        Spacer(1, 3 * mm),
        doc.image(png),
        Spacer(1, 6 * mm),
    ]


# --- no-shows --------------------------------------------------------------------


def _noshows(doc: _Doc, r: NoShowReport) -> None:
    w = doc.w
    if not r.seasons:
        return
    totals: dict[str, tuple[str, int]] = {}
    for s in r.seasons:
        name, n = totals.get(s.holder, (s.name, 0))
        totals[s.holder] = (name, n + s.strikes)
    top = sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[1][0]))[:20]
    png = charts.bars(
        [v[0] for _, v in top],
        [(w("strikes"), [v[1] for _, v in top])],
        w("noshow_bars"),
        w("count"),
    )
    doc.story.append(doc.image(png))
    rows = []
    for s in r.seasons:
        flag = w("flagged") if s.flagged else ""
        season = f"{_d(s.first)} – {_d(s.last)}" + (f" {w('partial')}" if s.partial else "")
        days = ", ".join(
            f"{n.row.start_ts and _local(n.row.start_ts, n.facility.tz):%Y-%m-%d %H:%M}"
            + ("" if n.kind == "no_show" else f" ({w('released')})")
            for n in s.no_shows
        )
        booked = r.booked.get(s.holder, 0)
        rows.append([s.name, season, f"{s.strikes} {w('of_booked')} {booked}", flag, days])
    doc.story.append(
        doc.table(
            [w("holder"), w("season"), w("strikes"), w("flag"), w("dates")],
            rows,
            (42, 30, 22, 18, 68),
        )
    )


def _local(ts: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, tz)


# --- attendance ------------------------------------------------------------------


def _attendance(doc: _Doc, r: AttendanceReport) -> None:
    w = doc.w
    doc.p(w("attendance_note"), "small")
    doc.p(w("minutes_note"), "small")
    if not r.sessions:
        return
    sums = r.summaries
    top = sorted(sums, key=lambda s: (-s.sessions, s.name))[:20]
    png = charts.bars(
        [s.name for s in top],
        [(w("sessions"), [s.sessions for s in top]), (w("meeting"), [s.meeting for s in top])],
        w("attendance_bars"),
        w("count"),
    )
    doc.story.append(doc.image(png))
    rows = [
        [
            s.name,
            f"{_d(s.period[0])} – {_d(s.period[1])}",
            s.sessions,
            s.entered,
            s.meeting,
            s.counted,
        ]
        for s in sums
    ]
    doc.story.append(
        doc.table(
            [w("holder"), w("period"), w("sessions"), w("entered"), w("meeting"), w("counted")],
            rows,
            (55, 40, 20, 22, 22, 21),
            (2, 3, 4, 5),
        )
    )
    current = None
    rows = []
    header = [
        w("date"),
        w("time"),
        w("place"),
        w("heads"),
        w("leaders"),
        w("first_in"),
        w("minutes"),
        w("meets"),
    ]
    widths = (20, 20, 46, 18, 14, 16, 11, 35)

    def flush() -> None:
        if rows:
            doc.story.append(doc.table(header, rows, widths, (3, 4, 6)))

    for a in r.sessions:
        key = a.row.holder
        if key != current:
            flush()
            rows = []
            current = key
            doc.p(f"{a.facility.holder_name(a.row.holder)}", "h3")
        tz = a.facility.tz
        start, end = _local(a.row.start_ts, tz), _local(a.row.end_ts, tz)
        place = f"{a.facility.name}, " + ", ".join(
            a.facility.resource_name(x) for x in a.row.resources
        )
        j = a.judgement
        if j is None:
            verdict = w("pending")
        elif j.meets:
            verdict = w("yes")
        else:
            verdict = w("no") + ": " + ", ".join(w(f"reason.{x}") for x in j.reasons)
        if a.same_day:
            verdict += f" ({w('same_day')})"
        first = "" if a.row.first_entry_ts is None else f"{_local(a.row.first_entry_ts, tz):%H:%M}"
        rows.append(
            [
                f"{start:%Y-%m-%d}",
                f"{start:%H:%M}–{end:%H:%M}",
                place,
                "" if a.row.participants is None else a.row.participants,
                "" if a.row.leaders is None else a.row.leaders,
                first,
                "" if j is None or j.minutes is None else j.minutes,
                verdict,
            ]
        )
    flush()


# --- claims ----------------------------------------------------------------------


def _claims(doc: _Doc, r: ClaimsReport) -> None:
    w = doc.w
    if not r.checked:
        return
    counts: dict[str, int] = {}
    for c in r.checked:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    keys = [
        k
        for k in (
            "evidence",
            "no_entry",
            "no_show",
            "no_booking",
            "unknown_place",
            "duplicate",
            "outside_period",
        )
        if k in counts
    ]
    png = charts.bars(
        [w(f"v.{k}") for k in keys],
        [(w("count"), [counts[k] for k in keys])],
        w("claims_bars"),
        w("count"),
    )
    doc.story.append(doc.image(png))
    rows = []
    for c in r.checked:
        cl = c.claim
        where = cl.place
        booking, door, heads = "", "", ""
        if c.row is not None and c.place is not None:
            tz = c.place.facility.tz
            b0, b1 = _local(c.row.start_ts, tz), _local(c.row.end_ts, tz)
            booking = f"{b0:%H:%M}–{b1:%H:%M} " + ", ".join(
                c.place.facility.resource_name(x) for x in c.row.resources
            )
            if c.row.first_entry_ts is not None:
                door = f"{_local(c.row.first_entry_ts, tz):%H:%M}"
            if c.row.participants is not None:
                heads = str(c.row.participants)
        verdict = w(f"v.{c.verdict}")
        if c.backs is not None:
            verdict += f" ({w('line').lower()} {c.backs})"
        notes = "; ".join(w(f"n.{n.kind}", a=n.a, b=n.b) for n in c.notes)
        rows.append(
            [
                cl.line,
                f"{cl.day:%Y-%m-%d}",
                f"{cl.start:%H:%M}–{cl.end:%H:%M}",
                where,
                cl.participants,
                booking,
                door,
                heads,
                verdict,
                notes,
            ]
        )
    doc.story.append(
        doc.table(
            [
                w("line"),
                w("date"),
                w("time"),
                w("place"),
                w("claimed"),
                w("booking"),
                w("door"),
                w("heads"),
                w("verdict"),
                w("notes"),
            ],
            rows,
            (10, 20, 22, 40, 18, 38, 12, 18, 45, 44),
            (0, 4, 7),
        )
    )


def _rule(doc: _Doc, rule: GrantRule) -> str:
    w = doc.w
    parts = [w("r.min", n=rule.min_minutes)]
    key = "r.heads_incl" if rule.participants_include_leaders else "r.heads_besides"
    parts.append(w(key, n=rule.min_participants))
    if rule.max_per_leader:
        parts.append(w("r.per_leader", n=rule.max_per_leader))
    if rule.max_participants:
        parts.append(w("r.max", n=rule.max_participants))
    if rule.leader_required:
        parts.append(w("r.leader"))
    parts.append(w("r.ages", a=rule.min_age, b=rule.max_age))
    return f"{rule.name}: " + ", ".join(parts)


def render(report: Any, lang: str = "sv") -> bytes:
    """The PDF of ``report`` (any of the four report types) in ``lang``."""
    doc = _Doc(lang, landscape=isinstance(report, ClaimsReport))
    q: Query = report.query
    if isinstance(report, UsageReport):
        kind, names, extra = "usage", [u.facility.name for u in report.facilities], []
    elif isinstance(report, NoShowReport):
        kind = "noshows"
        names = sorted({n.facility.name for s in report.seasons for n in s.no_shows})
        thresholds = sorted({s.threshold for s in report.seasons})
        extra = [doc.w("threshold", n=t) for t in thresholds]
    elif isinstance(report, AttendanceReport):
        kind = "attendance"
        names = sorted({a.facility.name for a in report.sessions})
        extra = [f"{doc.w('rule')}: {_rule(doc, rule)}" for rule in report.rules]
    elif isinstance(report, ClaimsReport):
        kind = "claims"
        names = sorted({c.place.facility.name for c in report.checked if c.place})
        extra = [
            f"{doc.w('holder')}: {report.holder_name}",
            doc.w("tolerance", n=report.tolerance_minutes),
        ]
    else:
        raise TypeError(f"not a report: {type(report).__name__}")
    title = doc.w(kind)
    doc.header(title, q, names, extra)
    if isinstance(report, UsageReport):
        _usage(doc, report)
    elif isinstance(report, NoShowReport):
        _noshows(doc, report)
    elif isinstance(report, AttendanceReport):
        _attendance(doc, report)
    else:
        _claims(doc, report)
    return doc.build(title, f"{title} {q.start.isoformat()} – {q.end.isoformat()}")

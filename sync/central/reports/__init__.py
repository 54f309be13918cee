"""Reports for a grants officer and a facility manager, from central's evidence (docs/reports.md).

Entry points (for the CLI, the web page and anything else):

- ``build(store, kind, query, evidence, holder=None, claims=None) -> Report``:
  the report's rows as typed objects (``usage.UsageReport``,
  ``noshows.NoShowReport``, ``attendance.AttendanceReport``,
  ``claims.ClaimsReport``). ``kind`` is one of ``KINDS``.
- ``rows(report) -> (columns, rows)``: the same as one flat table with stable
  column names (``tables``); ``write(report, "csv"|"pdf", lang) -> bytes``:
  the CSV or PDF file's bytes.
- ``read_claims(bytes, file) -> [Claim]`` (``claimsfile``) for the claims check.
- ``make_report(request) -> bytes``: all of it in one call, as
  ``hallvakt central report`` runs it (``ReportRequest``).

Modules: ``data`` (what every report reads), ``usage``, ``noshows``,
``attendance``, ``claims`` and ``claimsfile`` (the four reports), ``tables``
(CSV), ``pdf`` and ``charts`` (PDF), ``words`` (the PDF's Swedish and English).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from ..evidence import ledger
from ..evidence.settings import Evidence
from ..store import Store
from .attendance import AttendanceReport, attendance
from .claims import ClaimsReport, claims_check
from .claimsfile import Claim, ClaimsError, read_claims
from .data import Query, ReportError
from .noshows import NoShowReport, noshows
from .tables import csv_bytes, table
from .usage import UsageReport, usage

KINDS = ("usage", "no-shows", "attendance", "claims")
FORMATS = ("csv", "pdf")
Report = UsageReport | NoShowReport | AttendanceReport | ClaimsReport
Kind = Literal["usage", "no-shows", "attendance", "claims"]


def build(
    store: Store,
    kind: str,
    query: Query,
    evidence: Evidence,
    *,
    holder: str | None = None,
    claims: Sequence[Claim] | None = None,
) -> Report:
    """The report ``kind`` for ``query`` (module docstring). ``holder`` limits
    ``attendance`` to one association and names it for ``claims`` (required
    there, with ``claims``). Raises ``ReportError``."""
    ledger.catch_up(store)
    by = evidence.for_municipality
    if kind == "usage":
        return usage(store, query)
    if kind == "no-shows":
        return noshows(store, query, by)
    if kind == "attendance":
        return attendance(store, query, by, holder)
    if kind == "claims":
        if holder is None or claims is None:
            raise ReportError("the claims check needs an association and a claims file")
        return claims_check(store, query, holder, claims, evidence.for_municipality(""))
    raise ReportError(f"unknown report {kind!r}: one of {', '.join(KINDS)}")


def rows(report: Report) -> tuple[tuple[str, ...], list[list[Any]]]:
    """The report as one flat table: ``(columns, rows)`` (``tables``)."""
    return table(report)


def write(report: Report, fmt: str, lang: str = "sv") -> bytes:
    """The report's file: ``csv`` (UTF-8, ``;``) or ``pdf`` (``lang`` sv or en)."""
    if fmt == "csv":
        return csv_bytes(*table(report))
    if fmt == "pdf":
        from .pdf import render  # matplotlib and reportlab only when a PDF is made

        return render(report, lang)
    raise ReportError(f"unknown format {fmt!r}: csv or pdf")


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Everything ``hallvakt central report`` is asked (docs/reports.md)."""

    kind: str
    facilities: tuple[str, ...] | None  # None: --all
    start: date
    end: date
    fmt: str
    now: datetime
    lang: str = "sv"
    holder: str | None = None
    claims: bytes | None = None
    claims_name: str = "claims.csv"


def make_report(store: Store, evidence: Evidence, req: ReportRequest) -> bytes:
    """The report file's bytes for ``req``. Raises ``ReportError`` (or its
    ``ClaimsError``: a claims file with problems, every one listed)."""
    if req.kind not in KINDS:
        raise ReportError(f"unknown report {req.kind!r}: one of {', '.join(KINDS)}")
    if req.fmt not in FORMATS:
        raise ReportError(f"unknown format {req.fmt!r}: csv or pdf")
    claims = None
    if req.kind == "claims":
        if req.claims is None:
            raise ReportError("the claims check needs --claims FILE.csv")
        try:
            claims = read_claims(req.claims, req.claims_name)
        except ClaimsError as exc:
            raise ReportError(str(exc)) from None
    q = Query(req.facilities, req.start, req.end, req.now)
    report = build(store, req.kind, q, evidence, holder=req.holder, claims=claims)
    return write(report, req.fmt, req.lang)


__all__ = [
    "FORMATS",
    "KINDS",
    "Claim",
    "ClaimsError",
    "Query",
    "Report",
    "ReportError",
    "ReportRequest",
    "build",
    "make_report",
    "read_claims",
    "rows",
    "write",
]

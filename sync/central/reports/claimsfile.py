"""An association's claimed sessions, as its membership system exports them (CSV), read strictly.

Rules this module guarantees:
- The file is CSV with a header row: UTF-8 (a BOM is fine) or, failing that,
  Windows-1252 as spreadsheet programs save it; separated by ``,`` ``;`` or a
  tab (whichever the header uses). Headers are matched case-blind, in Swedish
  or English (``HEADERS``): date (datum), start (starttid, från), end
  (sluttid, till), place (plats, lokal, anläggning), participants (deltagare,
  antal deltagare); optional leaders (ledare) and activity (aktivitet, grupp).
  Other columns are ignored: exports carry more than we need.
- Dates are ``YYYY-MM-DD`` or ``YYYYMMDD``; times ``HH:MM``, ``HH.MM`` or
  ``HHMM``; an end at or before the start runs past midnight. Counts are
  whole numbers 0-10000.
- Every problem is reported as ``FILE:LINE: column: problem``, all at once,
  and a file with any problem gives no claims (``ClaimsError``). Nothing
  else is ever raised, whatever the bytes (a Hypothesis test feeds it junk).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, time

MAX_BYTES = 10 * 1024 * 1024
HEADERS: dict[str, tuple[str, ...]] = {
    "date": ("date", "datum", "dag"),
    "start": ("start", "starttid", "start time", "från", "fran", "tid från", "tid fran"),
    "end": ("end", "sluttid", "slut", "end time", "till", "tid till"),
    "place": ("place", "plats", "lokal", "anläggning", "anlaggning", "location", "venue"),
    "participants": ("participants", "deltagare", "antal deltagare", "antal"),
    "leaders": ("leaders", "ledare", "antal ledare"),
    "activity": ("activity", "aktivitet", "grupp", "group", "aktivitetstyp"),
}
REQUIRED = ("date", "start", "end", "place", "participants")
_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_TIME = re.compile(r"(\d{1,2})[:.]?(\d{2})")


class ClaimsError(ValueError):
    """A claims file that cannot be read; ``problems`` are its lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Claim:
    line: int
    day: date
    start: time
    end: time
    place: str
    participants: int
    leaders: int | None
    activity: str


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _norm(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().casefold().split())


def read_claims(raw: bytes, file: str = "claims.csv") -> list[Claim]:
    """The claims in ``raw`` (module rules); raises ``ClaimsError``."""
    if len(raw) > MAX_BYTES:
        raise ClaimsError([f"{file}: larger than {MAX_BYTES // 1024 // 1024} MiB"])
    text = _text(raw).replace("\x00", "")
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ClaimsError([f"{file}: not CSV: {exc}"]) from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise ClaimsError([f"{file}: empty, a header row is needed"])
    alias = {a: key for key, names in HEADERS.items() for a in names}
    cols: dict[str, int] = {}
    for i, name in enumerate(rows[0]):
        key = alias.get(_norm(name))
        if key is not None and key not in cols:
            cols[key] = i
    missing = [k for k in REQUIRED if k not in cols]
    if missing:
        words = ", ".join(f"{k} ({'/'.join(HEADERS[k][:2])})" for k in missing)
        raise ClaimsError([f"{file}:1: the header lacks {words}"])
    problems: list[str] = []
    out: list[Claim] = []
    for n, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        got: dict[str, str] = {k: (row[i].strip() if i < len(row) else "") for k, i in cols.items()}
        errs: list[str] = []
        day = _date(got["date"], errs)
        start, end = _time("start", got["start"], errs), _time("end", got["end"], errs)
        participants = _count("participants", got["participants"], errs)
        leaders = _count("leaders", got["leaders"], errs) if got.get("leaders") else None
        if not got["place"]:
            errs.append("place: empty")
        if errs:
            problems += [f"{file}:{n}: {e}" for e in errs]
            continue
        assert day is not None and start is not None and end is not None
        assert participants is not None
        out.append(
            Claim(
                n,
                day,
                start,
                end,
                got["place"][:200],
                participants,
                leaders,
                got.get("activity", "")[:120],
            )
        )
    if problems:
        raise ClaimsError(problems)
    return out


def _date(text: str, errs: list[str]) -> date | None:
    m = _DATE.fullmatch(text)
    if m is None:
        errs.append(f"date: {text[:40]!r} is not YYYY-MM-DD")
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        errs.append(f"date: {text[:40]!r}: {exc}")
        return None


def _time(column: str, text: str, errs: list[str]) -> time | None:
    m = _TIME.fullmatch(text)
    if m is None or int(m[1]) > 23 or int(m[2]) > 59:
        errs.append(f"{column}: {text[:40]!r} is not a time HH:MM")
        return None
    return time(int(m[1]), int(m[2]))


def _count(column: str, text: str, errs: list[str]) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 5 or int(text) > 10_000:
        errs.append(f"{column}: {text[:40]!r} is not a whole number 0-10000")
        return None
    return int(text)

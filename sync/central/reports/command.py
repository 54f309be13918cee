"""``hallvakt central report KIND ...``: the arguments and the run (docs/reports.md).

The I/O edge of the reports: it reads the clock, the claims file and the
store, writes the report file (or standard output) and prints where it went.
``add_arguments`` fills the action's argparse parser; ``run_report(cfg,
args)`` is the action, as every ``hallvakt central`` action is: it returns
the exit status and raises ``ReportError`` (printed by the CLI, status 1).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from ..config import CentralConfig
from ..store import open_store
from . import FORMATS, KINDS, ReportError, ReportRequest, make_report
from .words import LANGS


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The report action's arguments (docs/reports.md)."""
    p.add_argument("kind", choices=KINDS, metavar="KIND", help=", ".join(KINDS))
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--facility", action="append", metavar="F", help="a facility (repeatable)")
    where.add_argument("--all", action="store_true", help="every facility")
    p.add_argument("--from", dest="start", type=_date, required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="end", type=_date, required=True, help="last day, YYYY-MM-DD")
    p.add_argument("--format", dest="fmt", choices=FORMATS, required=True, help="csv or pdf")
    p.add_argument("--out", default=None, help="the file (default KIND-FROM-TO.FORMAT; - stdout)")
    p.add_argument("--lang", choices=LANGS, default="sv", help="the PDF's language (default sv)")
    p.add_argument(
        "--association",
        default=None,
        help="attendance: only this association; claims: whose claims (id or display name)",
    )
    p.add_argument("--claims", type=Path, default=None, help="claims: the association's CSV")


def run_report(cfg: CentralConfig, args: argparse.Namespace) -> int:
    """Make the report ``args`` asks for from ``cfg``'s store (module docstring)."""
    claims = None
    if args.kind == "claims":
        if args.claims is None or args.association is None:
            raise ReportError("the claims check needs --association and --claims FILE.csv")
        claims = args.claims.read_bytes()
    req = ReportRequest(
        kind=args.kind,
        facilities=None if args.all else tuple(args.facility),
        start=args.start,
        end=args.end,
        fmt=args.fmt,
        now=datetime.now(UTC),
        lang=args.lang,
        holder=args.association,
        claims=claims,
        claims_name=str(args.claims) if args.claims else "claims.csv",
    )
    with open_store(cfg.store.url, create=False) as store:
        data = make_report(store, cfg.evidence_settings, req)
    out = args.out or f"{args.kind}-{args.start}-{args.end}.{args.fmt}"
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    Path(out).write_bytes(data)
    print(f"{out}: {args.kind} {args.start} – {args.end}, {len(data)} bytes")
    return 0

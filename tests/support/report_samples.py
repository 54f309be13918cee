"""Sample pages for docs/reports.md: ``python -m tests.support.report_samples docs/reports``.

The season of tests/sync/test_reports_pdf.py (2 facilities, 3 weeks), each
report in Swedish, its first pages rendered by pdftoppm at 80 dpi.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from sync.central.reports import Query, build, read_claims, write
from sync.central.store import Store
from tests.support.season import generate
from tests.sync.test_evidence_truth import SETTINGS, claims_file, load

PAGES = {"usage": 2, "no-shows": 1, "attendance": 2, "claims": 1}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    season = generate(seed=11, facilities=2, days=21)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(str(Path(tmp) / "central.db"))
        load(store, season)
        q = Query(None, season.start, season.end, season.now)
        for kind, n in PAGES.items():
            if kind == "claims":
                raw, _ = claims_file(season, "fac00.assoc1")
                r = build(store, kind, q, SETTINGS, holder="fac00.assoc1", claims=read_claims(raw))
            else:
                r = build(store, kind, q, SETTINGS)
            pdf = Path(tmp) / f"{kind}.pdf"
            pdf.write_bytes(write(r, "pdf", "sv"))
            subprocess.run(
                [
                    "pdftoppm",
                    "-r",
                    "80",
                    "-png",
                    "-f",
                    "1",
                    "-l",
                    str(n),
                    str(pdf),
                    str(out / kind),
                ],
                check=True,
            )
        store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/reports"))

"""The reports as files: every PDF rendered to PNG pages (pdftoppm) and read back as text
(pdftotext), the CSVs parsed (sync/central/reports).

What a person would check on the pages: each report has pages with ink on
them, its Swedish (or English) title, the period and the numbers the rows say;
no PNG page is blank; the document names its language and title for
assistive technology. docs/reports.md shows pages made the same way
(tests/support/report_samples.py).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib.image import imread

from sync.central.reports import Query, build, read_claims, rows, write
from sync.central.reports.usage import UsageReport
from sync.central.store import Store
from tests.support.season import Season, generate
from tests.sync.test_evidence_truth import SETTINGS, claims_file, load

KINDS = ("usage", "no-shows", "attendance", "claims")
TITLES = {
    "sv": (
        "Användning av lokaler",
        "Uteblivna besök",
        "Närvaro och aktivitetsstöd",
        "Kontroll av redovisade aktiviteter",
    ),
    "en": (
        "Use of facilities",
        "No-shows",
        "Attendance and activity grants",
        "Check of claimed sessions",
    ),
}


@pytest.fixture(scope="module")
def small() -> Season:
    return generate(seed=11, facilities=2, days=21)


@pytest.fixture(scope="module")
def store(small: Season, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store.open(str(tmp_path_factory.mktemp("pdf") / "central.db"))
    load(s, small)
    try:
        yield s
    finally:
        s.close()


def report(store: Store, s: Season, kind: str) -> object:
    q = Query(None, s.start, s.end, s.now)
    if kind == "claims":
        raw, _ = claims_file(s, "fac00.assoc1")
        return build(store, kind, q, SETTINGS, holder="fac00.assoc1", claims=read_claims(raw))
    return build(store, kind, q, SETTINGS)


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian poppler-utils; `make test` installs it)")
    return path


def pages(pdf: bytes, out: Path, dpi: int = 40) -> list[Path]:
    src = out / "r.pdf"
    src.write_bytes(pdf)
    subprocess.run(
        [poppler("pdftoppm"), "-r", str(dpi), "-png", str(src), str(out / "p")],
        check=True,
        timeout=120,
    )
    return sorted(out.glob("p-*.png"))


def text(pdf: bytes, out: Path) -> str:
    src = out / "t.pdf"
    src.write_bytes(pdf)
    res = subprocess.run(
        [poppler("pdftotext"), "-layout", str(src), "-"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return res.stdout.decode()


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_report_renders_to_pages_with_ink(
    store: Store, small: Season, kind: str, lang: str, tmp_path: Path
) -> None:
    r = report(store, small, kind)
    pdf = write(r, "pdf", lang)  # type: ignore[arg-type]
    assert pdf.startswith(b"%PDF-")
    assert b"/Lang (sv-SE)" in pdf if lang == "sv" else b"/Lang (en)" in pdf
    pngs = pages(pdf, tmp_path)
    assert pngs
    for i, png in enumerate(pngs):
        img = imread(png)  # floats 0..1, rows x cols x channels
        body = img[: int(img.shape[0] * 0.92), :, :3].mean(axis=2) < 0.5  # above the footer
        least = 0.01 if i == 0 else 0.0002  # a title page has a lot; a last page a few rows
        assert least < body.mean() < 0.6, f"{png.name}: {body.mean():.4f} of the page is ink"
    words = text(pdf, tmp_path)
    title = TITLES[lang][KINDS.index(kind)]
    assert title in words
    assert f"{small.start.isoformat()} – {small.end.isoformat()}" in words


def test_the_usage_pdf_prints_the_rows_numbers(store: Store, small: Season, tmp_path: Path) -> None:
    r = report(store, small, "usage")
    assert isinstance(r, UsageReport)
    words = text(write(r, "pdf"), tmp_path)
    for u in r.facilities:
        assert u.facility.name in words
        total = f"{u.total.booked / 60:.1f}"
        line = next(x for x in words.splitlines() if x.strip().startswith("Totalt") and total in x)
        assert f"{u.total.used / 60:.1f}" in line


@pytest.mark.parametrize("kind", KINDS)
def test_every_csv_is_the_reports_table(store: Store, small: Season, kind: str) -> None:
    r = report(store, small, kind)
    data = write(r, "csv")  # type: ignore[arg-type]
    assert data.startswith("\ufeff".encode())
    got = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    cols, want = rows(r)  # type: ignore[arg-type]
    assert got[0] == list(cols)
    assert [[str(v) for v in row] for row in want] == got[1:]
    assert len(got) > 5


def test_a_csv_cell_never_starts_a_formula() -> None:
    from sync.central.reports.tables import csv_bytes

    data = csv_bytes(("a", "b"), [["=HYPERLINK(1)", "-5"], [-5, "@x"]]).decode("utf-8-sig")
    assert data.splitlines() == ["a;b", "'=HYPERLINK(1);'-5", "-5;'@x"]

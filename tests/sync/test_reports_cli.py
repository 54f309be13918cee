"""``hallvakt central report`` (sync/central/reports/command.py, wired in sync/central/admin.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from hallvakt.cli import main
from sync.central.store import Store
from tests.support.season import Season, generate
from tests.sync.test_evidence_truth import claims_file, load


@pytest.fixture(scope="module")
def season() -> Season:
    return generate(seed=3, facilities=2, days=14)


@pytest.fixture(scope="module")
def config(season: Season, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    with Store.open(str(root / "central.db")) as s:
        load(s, season)
    (root / "central.toml").write_text(
        'store = "central.db"\n[signing]\nkey = "central.key"\nkid = "c1"\n'
        '[broker]\nurl = "mqtt://127.0.0.1"\n'
        '[municipalities.rfors]\nname = "Robertsfors"\n[municipalities.rfors.grant]\n'
        "min_minutes = 60\nmin_participants = 5\nparticipants_include_leaders = true\n"
    )
    return root / "central.toml"


def report(config: Path, *args: str) -> int:
    return main(["central", "report", *args, "--config", str(config)])


def test_a_csv_and_a_pdf_are_written(
    config: Path, season: Season, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    span = ["--from", str(season.start), "--to", str(season.end)]
    out = tmp_path / "u.csv"
    assert report(config, "usage", "--all", *span, "--format", "csv", "--out", str(out)) == 0
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["level", "facility", "facility_name"]
    assert {r[1] for r in rows[1:]} == {"fac00", "fac01"}
    assert f"{out}: usage" in capsys.readouterr().out
    pdf = tmp_path / "a.pdf"
    assert (
        report(
            config,
            "attendance",
            "--facility",
            "fac01",
            *span,
            "--format",
            "pdf",
            "--out",
            str(pdf),
            "--lang",
            "en",
        )
        == 0
    )
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_claims_to_stdout(
    config: Path, season: Season, tmp_path: Path, capsys: pytest.CaptureFixture[bytes]
) -> None:
    raw, want = claims_file(season, "fac00.assoc1")
    (tmp_path / "c.csv").write_bytes(raw)
    span = ["--from", str(season.start), "--to", str(season.end)]
    code = report(
        config,
        "claims",
        "--all",
        *span,
        "--format",
        "csv",
        "--out",
        "-",
        "--association",
        "fac00.assoc1",
        "--claims",
        str(tmp_path / "c.csv"),
    )
    assert code == 0
    text = capsys.readouterr().out
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert len(lines) - 1 == len(want)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["usage", "--facility", "nowhere"], "unknown facility nowhere"),
        (["claims", "--all"], "needs --association and --claims"),
        (["attendance", "--all", "--from", "2026-03-01", "--to", "2026-02-01"], "ends"),
    ],
)
def test_problems_are_one_line_and_status_1(
    config: Path, season: Season, args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    span = [] if "--from" in args else ["--from", str(season.start), "--to", str(season.end)]
    assert report(config, *args, *span, "--format", "csv", "--out", "-") == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_a_claims_file_with_problems_lists_them_all(
    config: Path, season: Season, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("datum;start;slut;plats;deltagare\n2026-02-31;18:00;19:00;Hallen 00;x\n")
    code = report(
        config,
        "claims",
        "--all",
        "--from",
        str(season.start),
        "--to",
        str(season.end),
        "--format",
        "pdf",
        "--association",
        "fac00.assoc1",
        "--claims",
        str(bad),
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"{bad}:2: date:" in err and f"{bad}:2: participants:" in err


def test_usage_errors_are_status_2(config: Path) -> None:
    assert report(config, "usage", "--from", "2026-01-01", "--to", "2026-02-01") == 2  # no where
    assert report(config, "nonsense", "--all", "--from", "x", "--to", "y", "--format", "csv") == 2

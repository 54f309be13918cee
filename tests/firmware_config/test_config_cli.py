"""The examples and the ``hallvakt provision`` / ``hallvakt config`` commands.

Each example is copied to a temp dir, provisioned with a CSR, its certificate
signed by a stand-in for central, and then checked by ``hallvakt config check``
exactly as an installer would.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_config.config import load_config
from hallvakt.cli import main
from tests.support.config import EXAMPLES, KEY1, Central

EXAMPLE_NAMES = ("small-hall", "arena")


def test_the_examples_are_the_ones_documented() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.toml")) == sorted(EXAMPLE_NAMES)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_each_example_passes_check_once_provisioned(
    name: str, provisioned: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = provisioned(name)
    assert main(["config", "check", str(config)]) == 0
    assert capsys.readouterr().out == f"{config}: ok\n"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_an_example_as_shipped_says_how_to_make_its_files_and_the_steps_work(
    name: str,
    tmp_path: Path,
    central: Central,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On a clean clone the examples name secrets and certificates that exist
    nowhere yet: ``config check`` says so, then prints the steps that make them.
    Followed as printed, the steps end in ``ok``."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLES / f"{name}.toml", "node.toml")
    assert main(["config", "check", "node.toml"]) == 1
    out = capsys.readouterr().out.splitlines()
    at = out.index('node.toml: to make what is missing (docs/configuration.md, "Installing"):')
    assert all(line.startswith("node.toml: ") and "does not exist" in line for line in out[:at])
    steps = out[at + 1 :]
    assert steps[0] == "  1. hallvakt provision --config node.toml --csr > registration.txt"
    assert "the node key, the credential key" in steps[1] and "certificate request" in steps[1]
    assert steps[2] == "  2. send registration.txt to central's operator and save what comes back:"
    cert_path = Path(steps[3].split(" as ")[1])
    ca_path = Path(steps[4].split(" as ")[1])
    assert steps[5] == "  3. hallvakt config check node.toml"

    argv = shlex.split(steps[0].split(". ", 1)[1].split(" > ")[0])
    assert main(argv[1:]) == 0  # step 1, as printed
    registration = capsys.readouterr().out
    csr = registration[registration.index("-----BEGIN CERTIFICATE REQUEST-----") :]
    cert_path.parent.mkdir(exist_ok=True)  # step 2: what central sends back, saved
    cert_path.write_bytes(central.sign(csr))
    ca_path.write_bytes(central.ca_pem)
    assert main(["config", "check", "node.toml"]) == 0  # step 3
    assert capsys.readouterr().out == "node.toml: ok\n"


def test_the_small_hall_is_small_and_the_arena_is_an_arena() -> None:
    small = load_config(EXAMPLES / "small-hall.toml", files=False)
    assert (len(small.doors), len(small.readers), len(small.kiosks)) == (1, 1, 1)
    assert small.readers[0].kind == "osdp"
    arena = load_config(EXAMPLES / "arena.toml", files=False)
    assert (len(arena.doors), len(arena.kiosks)) == (4, 2)
    bus = {r.port for r in arena.readers if r.kind == "osdp"}
    assert len(bus) == 1
    for door in arena.doors:
        assert {r.direction for r in arena.readers_of(door.id)} == {"in", "out"}
    assert all(any(r.kiosk == k.id for r in arena.readers) for k in arena.kiosks)


def test_check_prints_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "node.toml"
    text = (EXAMPLES / "small-hall.toml").read_text(encoding="utf-8")
    config.write_text(text.replace("address = 0", "address = 200"), encoding="utf-8")
    assert main(["config", "check", str(config)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{config}: readers[0].address: 200 is not in 0..126"
    assert len(lines) == 1  # pass 3 does not run on a config that does not parse


def test_check_names_the_file_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("node.toml").write_text("[broker\n", encoding="utf-8")
    assert main(["config", "check", "node.toml"]) == 1
    assert capsys.readouterr().out == (
        "node.toml: line 1, column 8: invalid TOML: Expected ']' at the end of a table "
        "declaration\n"
    )


def test_show_prints_effective_values_without_secrets(
    provisioned: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = provisioned("arena")
    assert main(["config", "show", str(config)]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    cfg = load_config(config)
    assert shown["timezone"] == "Europe/Stockholm"
    assert shown["node_key"] == str(config.parent / "secrets" / "node.key")
    assert shown["readers"][0]["baud"] == 38400
    assert shown["kiosks"][1]["speech"] is True  # a default (the kiosk profile speaks), filled in
    assert shown["kiosks"][1]["orientation"] == "portrait" and shown["kiosks"][1]["volume"] == 70
    assert shown["policy"] == {"max_offline_hours": 48, "pin_max_attempts": 3}
    assert shown["central_keys"] == {k: v.fingerprint for k, v in cfg.central_keys.items()}
    assert KEY1 not in out
    for path in config.parent.joinpath("secrets").iterdir():
        assert path.read_text(encoding="ascii").strip() not in out


def test_show_works_before_provisioning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "node.toml"
    shutil.copy(EXAMPLES / "small-hall.toml", config)
    assert main(["config", "show", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["node_id"] == "lund.vallkarrahallen.n1"


def test_provision_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "node.toml"
    shutil.copy(EXAMPLES / "small-hall.toml", config)
    assert main(["provision", "--config", str(config), "--csr"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# Hallvakt node registration")
    assert "-----BEGIN CERTIFICATE REQUEST-----" in out
    assert f"written   node key                 {tmp_path}/secrets/node.key" in err
    assert "Still missing before `hallvakt config check` passes:" in err
    assert f"broker.cert: {tmp_path}/tls/node.crt does not exist" in err
    before = (tmp_path / "secrets" / "node.key").read_bytes()

    assert main(["provision", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert f"kept      node key                 {tmp_path}/secrets/node.key" in err
    assert (tmp_path / "secrets" / "node.key").read_bytes() == before

    assert main(["provision", "--config", str(config), "--force"]) == 0
    assert "replaced  node key" in capsys.readouterr().err
    assert (tmp_path / "secrets" / "node.key").read_bytes() != before
    assert oct(os.stat(tmp_path / "secrets" / "node.key").st_mode & 0o777) == "0o600"


def test_provision_refuses_a_broken_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "node.toml"
    config.write_text('node_id = "x"\n', encoding="utf-8")
    assert main(["provision", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}: facility_id: is required" in err
    assert not (tmp_path / "secrets").exists()


def test_provision_reports_why_it_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "node.toml"
    shutil.copy(EXAMPLES / "small-hall.toml", config)
    missing = tmp_path / "nope.key"
    assert (
        main(["provision", "--config", str(config), "--import-credential-key", str(missing)]) == 1
    )
    assert capsys.readouterr().err == (
        f"hallvakt provision: {missing} cannot be read: No such file or directory\n"
    )

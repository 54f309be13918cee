"""The systemd units start real `hallvakt` subcommands, and the door controller's
unit keeps it independent of the network and the other services."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from hallvakt.cli import build_parser

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize(
    ("unit", "subcommand"),
    [
        ("hallvakt-door.service", "door"),
        ("hallvakt-sync.service", "sync"),
        ("hallvakt-kiosk.service", "kiosk"),
    ],
)
def test_unit_runs_a_real_subcommand_and_restarts(unit: str, subcommand: str) -> None:
    svc = _unit(unit)["Service"]
    argv = shlex.split(svc["ExecStart"])
    assert argv[0].endswith("/hallvakt") and argv[1] == subcommand
    args = build_parser().parse_args(argv[1:])  # the unit's command line parses
    assert args.command == subcommand and args.config == Path("/etc/hallvakt/node.toml")
    assert svc["Restart"] == "always"
    assert svc["RestartPreventExitStatus"] == "78"  # a broken config: restarting cannot help
    # every daemon says READY and pets the watchdog (firmware_config.runtime.Notifier)
    assert svc["Type"] == "notify" and int(svc["WatchdogSec"]) > 0


def test_central_unit_runs_the_gateway() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(UNITS.parent / "central" / "hallvakt-central.service", encoding="utf-8")
    args = build_parser().parse_args(shlex.split(unit["Service"]["ExecStart"])[1:])
    assert (args.command, args.action) == ("central", None)  # no action: serve
    assert args.config == Path("/etc/hallvakt-central/central.toml")


def test_door_unit_is_independent() -> None:
    unit = _unit("hallvakt-door.service")
    assert "network" not in unit["Unit"].get("After", "")
    assert "Requires" not in unit["Unit"] and "BindsTo" not in unit["Unit"]
    svc = unit["Service"]
    assert svc["Type"] == "notify" and int(svc["WatchdogSec"]) > 0
    assert svc["IPAddressDeny"] == "any"

"""The ``hallvakt`` console command.

Each subcommand is one function ``(args) -> exit status`` plus one ``Command``
entry in ``COMMANDS``; ``build_parser`` makes the argparse tree from that table,
so adding a subcommand touches nothing else. This is the I/O edge: it may read
the clock and the file system; the modules it calls do not.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from firmware_config.commands import run_config, run_provision
from firmware_config.config import DEFAULT_CONFIG
from firmware_config.demo import run_demo

CENTRAL_ACTIONS = (
    "init",
    "register-node",
    "import",
    "book",
    "command",
    "demo-seed",
    "status",
    "web",
    "web-user",
)


@dataclass(frozen=True, slots=True)
class Arg:
    """One ``add_argument`` call: its flags and keyword options."""

    flags: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


# Every node daemon and tool takes the node's config the same way.
NODE_CONFIG = arg(
    "--config",
    metavar="FILE",
    type=Path,
    default=DEFAULT_CONFIG,
    help=f"node configuration (default {DEFAULT_CONFIG})",
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    args: tuple[Arg, ...] = ()


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


COMMANDS: tuple[Command, ...] = (
    Command(
        "demo",
        "run the whole system here: a private broker, central with a demo municipality,"
        " one facility node (sync, door with simulated readers, kiosk); Ctrl-C stops it",
        run_demo,
        (
            arg(
                "action",
                nargs="*",
                metavar="broker stop|start",
                help="take the running demo's broker away, or bring it back",
            ),
            arg("--dir", type=Path, default=Path(".demo"), help="demo directory (default .demo)"),
            arg("--headless", action="store_true", help="kiosk offscreen, with screenshots"),
            arg(
                "--seconds",
                type=float,
                default=None,
                help="stop after N seconds (default: at Ctrl-C; 60 s when stdin is no terminal)",
            ),
            arg(
                "--offline", action="store_true", help="no broker or central, as without mosquitto"
            ),
            arg("--seed", type=int, default=1, help="demo data seed (default 1)"),
            arg(
                "--db",
                type=Path,
                default=None,
                help="only write a demo node database to FILE and print the day's schedule",
            ),
            arg("--date", type=_iso_date, default=None, help="with --db: the day, YYYY-MM-DD"),
        ),
    ),
    Command(
        "provision",
        "create the node's keys and secrets; print what central needs to register it",
        run_provision,
        (
            NODE_CONFIG,
            arg("--force", action="store_true", help="replace existing secrets (every one)"),
            arg(
                "--import-credential-key",
                metavar="PATH",
                type=Path,
                default=None,
                help="the municipality's credential key (hex, base64 or 32 raw bytes)",
            ),
            arg(
                "--csr",
                action="store_true",
                help="make a TLS key and print a certificate request (CN = node id)",
            ),
        ),
    ),
    Command(
        "door",
        "run the door controller (readers, locks, access decisions)",
        lambda a: _door_cli().run_door(a),
        (
            NODE_CONFIG,
            arg(
                "--simulate",
                action="store_true",
                help="libosdp's simulated readers and a simulated relay board instead of hardware",
            ),
            arg(
                "--trust-clock",
                action="store_true",
                help="treat the system clock as synchronised (demos and benches without NTP)",
            ),
        ),
    ),
    Command(
        "tap",
        "act as a person at a simulated reader: tap a card, type a PIN or a visitor code",
        lambda a: _door_cli().run_tap(a),
        (
            arg("card", nargs="?", default=None, help="card as HEX/BITS, e.g. 0ABCDE40/26"),
            arg("--pin", default=None, help="digits typed after the card (or alone: a code)"),
            arg("--door", default=None, help="door id (default: the first door)"),
            NODE_CONFIG,
        ),
    ),
    Command(
        "sync",
        "run the sync link to central (MQTT: events up, central's data and commands down)",
        lambda a: _sync_cli().run_sync(a),
        (
            NODE_CONFIG,
            arg(
                "--trust-clock",
                action="store_true",
                help="treat the system clock as synchronised (demos and tests without NTP)",
            ),
        ),
    ),
    Command(
        "kiosk",
        "run the touch kiosk (today's schedule, walk-ins, leaders, caretaker)",
        lambda a: _kiosk_main().run_kiosk(a),
        (
            NODE_CONFIG,
            arg("--kiosk", default=None, help="kiosk id (default: the config's first kiosk)"),
            arg("--fullscreen", action="store_true", help="fill the screen"),
        ),
    ),
    Command(
        "status",
        "the node's health at a glance: processes, readers, doors, data age, outbox, clock",
        lambda a: (
            _progress().run_watch(a) if a.watch or a.until_synced else _status().run_status(a)
        ),
        (
            NODE_CONFIG,
            arg("--json", action="store_true", help="machine-readable output"),
            arg(
                "--watch",
                action="store_true",
                help="follow the link, a snapshot download, catch-up and the outbox draining",
            ),
            arg("--until-synced", action="store_true", help="watch until in step with central"),
        ),
    ),
    Command(
        "config",
        "check a node configuration, or show its effective values without secrets",
        run_config,
        (
            arg(
                "action",
                choices=("check", "show"),
                help="check: all problems, exit 1 if any; show: the effective config as JSON",
            ),
            arg("file", metavar="FILE", type=Path, help="the node configuration (node.toml)"),
        ),
    ),
    Command(
        "central",
        "the reference central gateway: run it (--config FILE), or an ACTION on its store"
        " (`hallvakt central ACTION --help`)",
        lambda a: _central_cli().main(a.action, a.rest, a.config),
        (
            arg("--config", metavar="FILE", type=Path, default=None, help="central.toml"),
            arg(
                "action",
                nargs="?",
                default=None,
                choices=CENTRAL_ACTIONS,
                metavar="ACTION",
                help=", ".join(CENTRAL_ACTIONS),
            ),
            arg("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS),
        ),
    ),
)


def _door_cli() -> Any:
    """The door controller's commands, imported only when used (libosdp, pyserial)."""
    from door_controller import cli

    return cli


def _sync_cli() -> Any:
    """The sync link's command, imported only when used (paho)."""
    from sync.link import cli

    return cli


def _kiosk_main() -> Any:
    """The kiosk's command, imported only when used (Kivy)."""
    from kiosk import main

    return main


def _status() -> Any:
    from firmware_config import status

    return status


def _progress() -> Any:
    from firmware_config import progress

    return progress


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hallvakt", description="Hallvakt facility node tools")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS:
        sub = subs.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        for a in cmd.args:
            sub.add_argument(*a.flags, **a.options)
        sub.set_defaults(run=cmd.run)
    return parser


def _central_cli() -> Any:
    """The reference central gateway's commands, imported only when used (paho)."""
    from sync.central import admin

    return admin


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hallvakt`` script; returns the exit status."""
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.encoding.lower() != "utf-8":
        sys.stdout.reconfigure(errors="replace")  # Swedish letters on a non-UTF-8 terminal
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except BrokenPipeError:  # `hallvakt demo | head`: stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from firmware_config.commands import run_config, run_provision
from firmware_config.config import DEFAULT_CONFIG
from sync.demodata import DEMO_NODE, demo_credentials, generate, load_into
from sync.replica import Replica, Resource, ScheduleEntry, day_schedule, free_slots, resource_tree
from sync.replica.timeutil import day_bounds

DEMO_TZ = "Europe/Stockholm"
CENTRAL_ACTIONS = ("init", "register-node", "import", "book", "command", "demo-seed", "status")
WEEKDAYS_SV = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MONTHS_SV = (
    "januari", "februari", "mars", "april", "maj", "juni",
    "juli", "augusti", "september", "oktober", "november", "december",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Arg:
    """One ``add_argument`` call: its flags and keyword options."""

    flags: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


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


# --- hallvakt demo ---------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    """Recreate a demo node database at ``args.db`` and print the day's schedule."""
    tz = ZoneInfo(DEMO_TZ)
    day: date = args.date or datetime.now(tz).date()
    path: Path = args.db
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    entities = generate(seed=args.seed, today=day, tz=DEMO_TZ)
    with Replica.open(path) as rep:
        loaded = load_into(rep, entities, rev=1, now=datetime.now(UTC))
        print_schedule(rep, day)
    print(f"Demo database: {path} (rev 1, {loaded} records, seed {args.seed})")
    print(f"Walk-in leases held by node {DEMO_NODE}. Demo credentials (demo credential key):")
    for label, what in demo_credentials(entities, seed=args.seed, today=day).items():
        print(f"  {label}: {what}")
    return 0


def print_schedule(rep: Replica, day: date) -> None:
    """Print each resource's bookings on ``day`` (facility time) and free walk-in slots."""
    facility = rep.facility()
    title = facility.name if facility else "Anläggningen"
    when = f"{WEEKDAYS_SV[day.weekday()]} {day.day} {MONTHS_SV[day.month - 1]} {day.year}"
    print(f"Dagens bokningar – {title}, {when}\n")
    resources = resource_tree(rep)
    lo, hi = day_bounds(day, rep.tz)
    for rid, entries in day_schedule(rep, day).items():
        res = resources[rid]
        print(res.name)
        for entry in entries:
            print("  " + _line(entry, resources))
        if not entries:
            print("  Inga bokningar")
        if res.walkin_slot_minutes is not None:
            slots = free_slots(rep, DEMO_NODE, rid, lo, hi)
            starts = " ".join(f"{s.start.astimezone(rep.tz):%H:%M}" for s in slots) or "inga"
            print(f"  Lediga drop-in-tider ({res.walkin_slot_minutes} min): {starts}")
    print()


def _line(entry: ScheduleEntry, resources: Mapping[str, Resource]) -> str:
    label = entry.label or "Bokad"
    if entry.via is not None:
        via = resources.get(entry.via)
        label += " (hela hallen)" if via is None or via.kind == "hall" else f" ({via.name})"
    if entry.booking.status == "tentative":
        label += " [preliminär]"
    return f"{entry.start_local:%H:%M}–{entry.end_local:%H:%M}  {label}"


COMMANDS: tuple[Command, ...] = (
    Command(
        "demo",
        "create a demo node database and print today's schedule",
        run_demo,
        (
            arg("--db", type=Path, default=Path(".demo/node.db"), help="database file to recreate"),
            arg("--seed", type=int, default=1, help="demo data seed (default 1)"),
            arg("--date", type=_iso_date, default=None, help="day to show, YYYY-MM-DD"),
        ),
    ),
    Command(
        "provision",
        "create the node's keys and secrets; print what central needs to register it",
        run_provision,
        (
            arg(
                "--config",
                metavar="FILE",
                type=Path,
                default=DEFAULT_CONFIG,
                help=f"node configuration (default {DEFAULT_CONFIG})",
            ),
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
            arg(
                "--config",
                metavar="FILE",
                type=Path,
                default=DEFAULT_CONFIG,
                help=f"node configuration (default {DEFAULT_CONFIG})",
            ),
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
            arg(
                "--config",
                metavar="FILE",
                type=Path,
                default=DEFAULT_CONFIG,
                help=f"node configuration (default {DEFAULT_CONFIG})",
            ),
        ),
    ),
    Command(
        "sync",
        "run the sync link to central (MQTT: events up, central's data and commands down)",
        lambda a: _sync_cli().run_sync(a),
        (
            arg(
                "--config",
                metavar="FILE",
                type=Path,
                default=DEFAULT_CONFIG,
                help=f"node configuration (default {DEFAULT_CONFIG})",
            ),
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
            arg(
                "--config",
                metavar="FILE",
                type=Path,
                default=DEFAULT_CONFIG,
                help=f"node configuration (default {DEFAULT_CONFIG})",
            ),
            arg("--kiosk", default=None, help="kiosk id (default: the config's first kiosk)"),
            arg("--fullscreen", action="store_true", help="fill the screen"),
        ),
    ),
    Command(
        "status",
        "the node's health at a glance: processes, readers, doors, data age, outbox, clock",
        lambda a: _status().run_status(a),
        (
            arg(
                "--config",
                metavar="FILE",
                type=Path,
                default=DEFAULT_CONFIG,
                help=f"node configuration (default {DEFAULT_CONFIG})",
            ),
            arg("--json", action="store_true", help="machine-readable output"),
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

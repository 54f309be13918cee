"""The ``hallvakt`` console command: one argparse tree.

``build_parser`` makes the whole tree, central's actions included: every
subcommand (and every ``hallvakt central ACTION``) is a subparser whose
``run`` default is a function ``(args) -> exit status``. ``main`` parses and
runs it; a usage error returns 2 and ``--help`` 0, as argparse prints them.

The door controller, the sync link, the kiosk and central pull in libosdp,
pyserial, paho and Kivy: the ``_run_*`` functions below import them only when
their command runs, so ``hallvakt status`` starts without them. This is the I/O
edge: it may read the clock and the file system; the modules it calls do not.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from firmware_config.config import DEFAULT_CONFIG
from sync.protocol import Cmd

Run = Callable[[argparse.Namespace], int]

# A base64url key may start with "-" (1 in 64 do): argparse would read it as an
# option, so such a value is glued to its option ("--public-key=-Abc…").
VALUE_MAY_START_WITH_DASH = frozenset({"--public-key"})


# --- what each command runs ---------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from hallvakt.demo import run_demo

    return run_demo(args, hallvakt=main)  # its setup types `hallvakt central ...` commands


def _run_provision(args: argparse.Namespace) -> int:
    from hallvakt.commands import run_provision

    return run_provision(args)


def _run_config(args: argparse.Namespace) -> int:
    from hallvakt.commands import run_config

    return run_config(args)


def _run_door(args: argparse.Namespace) -> int:
    from door_controller.cli import run_door  # libosdp, pyserial

    return run_door(args)


def _run_tap(args: argparse.Namespace) -> int:
    from door_controller.cli import run_tap  # libosdp, pyserial

    return run_tap(args)


def _run_sync(args: argparse.Namespace) -> int:
    from sync.link.cli import run_sync  # paho

    return run_sync(args)


def _run_kiosk(args: argparse.Namespace) -> int:
    from kiosk.main import run_kiosk  # Kivy

    return run_kiosk(args)


def _run_status(args: argparse.Namespace) -> int:
    if args.watch or args.until_synced:
        from hallvakt.progress import run_watch  # rich

        return run_watch(args)
    from hallvakt.status import run_status

    return run_status(args)


def _run_central(args: argparse.Namespace) -> int:
    from sync.central import admin  # paho

    action: str | None = args.action
    if action is None:
        return admin.serve(args.config)
    if action == "demo-seed":
        from hallvakt.demo.seed import run_demo_seed

        return admin.run_action(run_demo_seed, args)
    return admin.run_action(admin.ACTIONS[action], args)


# --- the tree -------------------------------------------------------------------------


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _node_config(p: argparse.ArgumentParser) -> None:
    """Every node daemon and tool takes the node's config the same way."""
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"node configuration (default {DEFAULT_CONFIG})",
    )


def _command(
    subs: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, run: Run
) -> argparse.ArgumentParser:
    p = subs.add_parser(name, help=help, description=help)
    p.set_defaults(run=run)
    return p


def _demo(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        subs,
        "demo",
        "run the whole system here: a private broker, central with a demo municipality,"
        " one facility node (sync, door with simulated readers, kiosk); Ctrl-C stops it",
        _run_demo,
    )
    p.add_argument(
        "action",
        nargs="*",
        metavar="broker stop|start",
        help="take the running demo's broker away, or bring it back",
    )
    p.add_argument("--dir", type=Path, default=Path(".demo"), help="demo directory (default .demo)")
    p.add_argument("--headless", action="store_true", help="kiosk offscreen, with screenshots")
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="stop after N seconds (default: at Ctrl-C; 60 s when stdin is no terminal)",
    )
    p.add_argument(
        "--offline", action="store_true", help="no broker or central, as without mosquitto"
    )
    p.add_argument("--seed", type=int, default=1, help="demo data seed (default 1)")
    p.add_argument(
        "--db",
        type=Path,
        default=None,
        help="only write a demo node database to FILE and print the day's schedule",
    )
    p.add_argument("--date", type=_iso_date, default=None, help="with --db: the day, YYYY-MM-DD")


def _node_tools(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _command(
        subs,
        "provision",
        "create the node's keys and secrets; print what central needs to register it",
        _run_provision,
    )
    _node_config(p)
    p.add_argument("--force", action="store_true", help="replace existing secrets (every one)")
    p.add_argument(
        "--import-credential-key",
        metavar="PATH",
        type=Path,
        default=None,
        help="the municipality's credential key (hex, base64 or 32 raw bytes)",
    )
    p.add_argument(
        "--csr",
        action="store_true",
        help="make a TLS key and print a certificate request (CN = node id)",
    )

    p = _command(
        subs, "door", "run the door controller (readers, locks, access decisions)", _run_door
    )
    _node_config(p)
    p.add_argument(
        "--simulate",
        action="store_true",
        help="libosdp's simulated readers and a simulated relay board instead of hardware",
    )
    p.add_argument(
        "--trust-clock",
        action="store_true",
        help="treat the system clock as synchronised (demos and benches without NTP)",
    )

    p = _command(
        subs,
        "tap",
        "act as a person at a simulated reader: tap a card, type a PIN or a visitor code",
        _run_tap,
    )
    p.add_argument("card", nargs="?", default=None, help="card as HEX/BITS, e.g. 0ABCDE40/26")
    p.add_argument("--pin", default=None, help="digits typed after the card (or alone: a code)")
    p.add_argument("--door", default=None, help="door id (default: the first door)")
    _node_config(p)

    p = _command(
        subs,
        "sync",
        "run the sync link to central (MQTT: events up, central's data and commands down)",
        _run_sync,
    )
    _node_config(p)
    p.add_argument(
        "--trust-clock",
        action="store_true",
        help="treat the system clock as synchronised (demos and tests without NTP)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=None,
        metavar="BATCHES",
        help="event batches in flight at once (default 16; docs/sync.md, bench/sync_link.py)",
    )

    p = _command(
        subs,
        "kiosk",
        "run the touch kiosk (today's schedule, walk-ins, leaders, caretaker)",
        _run_kiosk,
    )
    _node_config(p)
    p.add_argument("--kiosk", default=None, help="kiosk id (default: the config's first kiosk)")
    p.add_argument("--fullscreen", action="store_true", help="fill the screen")

    p = _command(
        subs,
        "status",
        "the node's health at a glance: processes, readers, doors, data age, outbox, clock",
        _run_status,
    )
    _node_config(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--watch",
        action="store_true",
        help="follow the link, a snapshot download, catch-up and the outbox draining",
    )
    p.add_argument("--until-synced", action="store_true", help="watch until in step with central")

    p = _command(
        subs,
        "config",
        "check a node configuration, or show its effective values without secrets",
        _run_config,
    )
    p.add_argument(
        "action",
        choices=("check", "show"),
        help="check: all problems, exit 1 if any; show: the effective config as JSON",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="the node configuration (node.toml)")


def _central(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``hallvakt central --config FILE`` runs the gateway; ``hallvakt central
    ACTION --config FILE ...`` acts on its store (docs/central.md). ``--config``
    may stand before or after the action."""
    central = _command(
        subs,
        "central",
        "the reference central gateway: run it (--config FILE), or an ACTION on its store"
        " (`hallvakt central ACTION --help`)",
        _run_central,
    )
    central.add_argument("--config", metavar="FILE", type=Path, default=None, help="central.toml")
    actions = central.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help, description=help)
        # SUPPRESS: a --config given before the action is kept, not overwritten.
        p.add_argument(
            "--config", metavar="FILE", type=Path, default=argparse.SUPPRESS, help="central.toml"
        )
        return p

    action("init", "create the store and signing key; print the key for node configs")
    p = action("register-node", "trust a node's public key for its facility")
    p.add_argument("--node", required=True, help="node id (PROTOCOL.md §2)")
    p.add_argument("--facility", required=True, help="facility id")
    p.add_argument("--public-key", required=True, help="raw Ed25519 public key, base64url")
    p.add_argument("--kid", default=None, help="key id (default: node id + key fingerprint)")
    p = action("revoke-node", "stop trusting a node: its keys go, its messages are refused")
    p.add_argument("--node", required=True, help="node id")
    p = action("replace-key", "trust a node's new public key instead of every old one")
    p.add_argument("--node", required=True, help="node id")
    p.add_argument("--public-key", required=True, help="raw Ed25519 public key, base64url")
    p.add_argument("--kid", default=None, help="key id (default: node id + key fingerprint)")
    p = action(
        "import", "import records, deletes and walk-in windows (JSON) or bookings/credentials (CSV)"
    )
    p.add_argument("--facility", required=True, help="facility id")
    p.add_argument("file", type=Path, metavar="FILE", help="FILE.json or FILE.csv")
    p = action("book", "make a central booking (refused inside a walk-in lease or on a conflict)")
    p.add_argument("--facility", required=True)
    p.add_argument("--resource", required=True)
    p.add_argument("--start", required=True, help="RFC 3339, or local YYYY-MM-DD HH:MM")
    p.add_argument("--end", required=True, help="RFC 3339, or local YYYY-MM-DD HH:MM")
    p.add_argument("--title", default="", help="public title")
    p.add_argument("--holder", default=None, help="holder id")
    p.add_argument("--id", default=None, help="booking id (default: a new one)")
    p = action("command", "queue a command for a node (sent by a running gateway)")
    p.add_argument("--node", required=True)
    p.add_argument("--cmd", required=True, choices=[c.value for c in Cmd])
    p.add_argument("--door", default=None, help="unlock: door id")
    p.add_argument("--seconds", type=int, default=5, help="unlock: seconds (default 5)")
    p.add_argument("--text", default="", help="message: text for the kiosk")
    p.add_argument(
        "--audience", choices=("public", "caretaker"), default="public",
        help="message: shown to the public or in the caretaker view (default public)",
    )  # fmt: skip
    p = action("demo-seed", "load the demo facility for today, with walk-in windows for a node")
    p.add_argument("--node", required=True, help="the node that sells walk-ins")
    p.add_argument("--seed", type=int, default=1, help="demo data seed (default 1)")
    p.add_argument("--date", type=_iso_date, default=None, help="the demo's today, YYYY-MM-DD")
    action("status", "nodes, their lag and last hello, events, dropped messages")
    p = action("report", "usage, no-shows, attendance or claims check as CSV or PDF")
    from sync.central.reports.command import add_arguments as report_arguments  # argparse only

    report_arguments(p)
    from sync.central.web.cli import add_arguments as web_arguments  # argparse and argon2 only

    web_arguments(
        action("web", "serve the web page for the municipality's staff (docs/central.md)"),
        action("web-user", "add a web page account, or change or disable one"),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hallvakt", description="Hallvakt facility node tools")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _demo(subs)
    _node_tools(subs)
    _central(subs)
    return parser


def glue_values(
    argv: Sequence[str], options: frozenset[str] = VALUE_MAY_START_WITH_DASH
) -> list[str]:
    """``argv`` with each value of ``options`` glued to its option (``--o=value``)."""
    out: list[str] = []
    it = iter(argv)
    for word in it:
        value = next(it, None) if word in options else None
        out.append(word if value is None else f"{word}={value}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hallvakt`` script; returns the exit status."""
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.encoding.lower() != "utf-8":
        sys.stdout.reconfigure(errors="replace")  # Swedish letters on a non-UTF-8 terminal
    try:
        args = build_parser().parse_args(glue_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # a usage error (2) or --help (0), printed by argparse
        code = exc.code
        return code if isinstance(code, int) else 0 if code is None else 2
    run: Run = args.run
    try:
        return run(args)
    except BrokenPipeError:  # `hallvakt demo | head`: stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

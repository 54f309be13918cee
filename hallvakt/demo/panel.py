"""What the demo prints once it runs: the panel, and the commands it offers.

Rules this module guarantees:
- ``panel`` is a pure function of the demo's state file (``run/demo.json``),
  how a person types ``hallvakt`` here, and the seconds the demo runs: what
  runs (pids, the broker's port), demo cards and PINs with what the door will
  do, and commands to copy, with paths relative to the working directory when
  they are inside it.
- Offline, the panel says that leaders are denied (``stale_replica``) and why.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from hallvakt.demo.data import FACILITY_ID

from .files import Layout
from .world import DEMO_HOURS, DOOR, READER, Plan


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def typed_hallvakt() -> str:
    """What a person types to run ``hallvakt`` here."""
    exe = Path(sys.argv[0])
    if exe.name == "hallvakt" and exe.exists():
        return "hallvakt" if shutil.which("hallvakt") == str(exe) else shown(exe)
    return f"{shlex.quote(sys.executable)} -m hallvakt.cli"


def book_args(layout: Layout, p: Plan) -> list[str]:
    """``hallvakt central book ...`` (without the program) for the panel's booking."""
    return [
        "central",
        "book",
        "--config",
        str(layout.central_toml.resolve()),
        "--facility",
        FACILITY_ID,
        "--resource",
        "gym",
        "--start",
        f"{p.book_start:%Y-%m-%d %H:%M}",
        "--end",
        f"{p.book_end:%Y-%m-%d %H:%M}",
        "--title",
        "Kvällsträning (central)",
    ]


def report_args(layout: Layout, p: Plan) -> list[str]:
    """``hallvakt central report ...`` (without the program): usage of the demo's
    day as a PDF in the demo's folder (docs/reports.md)."""
    day = f"{p.booked_until - timedelta(hours=DEMO_HOURS):%Y-%m-%d}"
    out = layout.root / f"usage-{day}.pdf"
    return [
        "central",
        "report",
        "usage",
        "--config",
        str(layout.central_toml.resolve()),
        "--facility",
        FACILITY_ID,
        "--from",
        day,
        "--to",
        day,
        "--format",
        "pdf",
        "--out",
        str(out.resolve()),
    ]


def _cmd(hv: str, args: Sequence[str]) -> str:
    return f"{hv} {shlex.join(args)}"


def panel(state: Mapping[str, Any], hv: str, seconds: float | None) -> str:
    """What the demo prints once it runs: a pure function of its state file."""
    node_cfg = shown(Path(state["node"]["config"]))
    root = Path(state["dir"])
    online = state["mode"] == "online"
    rule = "─" * 78
    title = f"central and facility node {state['node']['id']} are running"
    out = [rule, f"Hallvakt demo: {title if online else 'OFFLINE: ' + state['offline_reason']}"]
    out.append(rule)
    b = state.get("broker") or {}
    if online:
        out.append(f"  broker   pid {b.get('pid'):<7} mqtt://127.0.0.1:{b.get('port')} (loopback)")
    where = {
        "central": f"reference gateway, {shown(Path(state['central']['config']))}",
        "sync": "the node's MQTT link to central",
        "door": f"{DOOR}: reader {READER} and the kiosk's reader simulated (libosdp, pty)",
        "web": "central's web page for the municipality's staff",
        "kiosk": (
            f"offscreen: screenshots in {shown(Path(state['screens']))}/"
            if state["kiosk"] == "offscreen"
            else "in a window"
        ),
    }
    for name, info in state["processes"].items():
        alive = "" if info["alive"] else "  (NOT RUNNING)"
        out.append(f"  {name:<8} pid {info['pid']!s:<7} {where.get(name, '')}{alive}")
    out.append(f"  logs in {shown(root / 'logs')}/, state in {shown(root / 'run' / 'demo.json')}")
    out += [f"! {problem}" for problem in state["problems"]]
    web = state.get("web")
    if web:
        out += ["", f"Central's web page: {web['url']}"]
        out.append(f"  sign in as {web['user']}, password {web['password']} (an admin)")
        out.append(f"  the grants officer's reports: {web['url']}reports")
    out += ["", "Be a person at the main entrance (Huvudentrén):"]
    for person in state["people"]:
        args = ["tap", person["card"], *(["--pin", person["pin"]] if person["pin"] else [])]
        note = person["note"] if online or not person["pin"] else "DENIED offline (stale_replica)"
        out.append(f"  {person['label']}: {note}")
        out.append(f"    {_cmd(hv, [*args, '--config', node_cfg])}")
    out.append("  a card nobody knows:")
    out.append(f"    {_cmd(hv, ['tap', '0BADC0DE/32', '--config', node_cfg])}")
    out.append("")
    if online and state.get("book"):
        book = list(state["book"])
        book[book.index("--config") + 1] = shown(Path(book[book.index("--config") + 1]))
        central_cfg = shown(Path(state["central"]["config"]))
        dir_args = [] if root == Path(".demo").resolve() else ["--dir", shown(root)]
        out += [
            "Book centrally and watch it appear on the kiosk (Today, Gymmet):",
            f"    {_cmd(hv, book)}",
            f"    {_cmd(hv, ['central', 'status', '--config', central_cfg])}",
        ]
        if state.get("report"):
            report = [shown(Path(a)) if a.startswith("/") else a for a in state["report"]]
            out += [
                "Report the day (usage as PDF; also no-shows, attendance: docs/reports.md):",
                f"    {_cmd(hv, report)}",
            ]
        out += [
            "Take central away: the node carries on offline and its events wait; then back:",
            f"    {_cmd(hv, ['demo', 'broker', 'stop', *dir_args])}    (or: kill {b.get('pid')})",
            f"    {_cmd(hv, ['status', '--watch', '--config', node_cfg])}",
            f"    {_cmd(hv, ['demo', 'broker', 'start', *dir_args])}",
        ]
    else:
        out += [
            "Without central the node runs on central's demo data copied in, but it has never",
            "verified a head from central, so the door admits staff grants only (PROTOCOL.md",
            "§7): leaders are DENIED (stale_replica). Walk-ins on the kiosk wait in the outbox.",
            "Install mosquitto (make deps-debian) for the whole system.",
        ]
    out += ["The node's health:", f"    {_cmd(hv, ['status', '--config', node_cfg])}", ""]
    if seconds is None:
        out.append("Ctrl-C stops everything.")
    else:
        out.append(f"Ctrl-C stops everything; the demo stops by itself after {seconds:g} s.")
    out.append(rule)
    return "\n".join(out)

"""``hallvakt demo``: the command's entry points.

Rules this module guarantees:
- ``run_demo`` takes the parsed ``hallvakt demo`` arguments and returns the
  exit status: 0 after a clean stop, 1 when the demo cannot start (the message
  on stderr says why) or a process did not stop cleanly, 2 for arguments that
  do not go together.
- With stdin not a terminal (``make demo`` in CI) and no ``--seconds``, the
  demo runs ``NONINTERACTIVE_SECONDS`` and stops, and says so first.
- The kiosk runs offscreen (``--headless``) when asked or when there is no
  display.
- ``broker_command`` waits for the running demo's answer and prints it, or
  says that no demo runs there, or that it runs offline.
"""

from __future__ import annotations

import argparse
import os
import sys
import time as clock
import uuid

from .files import Layout, read_state, write_json
from .offline import offline_reason
from .orchestrator import Demo
from .processes import pid_alive
from .schedule import run_schedule
from .world import DemoError, Hallvakt

NONINTERACTIVE_SECONDS = 60.0


def broker_command(layout: Layout, action: str, timeout: float = 20.0) -> int:
    """Ask the running demo to stop or start its broker; wait for its answer."""
    st = read_state(layout)
    pid = st.get("pid")
    if st.get("state") in (None, "stopped") or not isinstance(pid, int) or not pid_alive(pid):
        print(f"no demo is running in {layout.root}", file=sys.stderr)
        return 1
    if st.get("mode") != "online":
        print("this demo runs offline: it has no broker", file=sys.stderr)
        return 1
    rid = uuid.uuid4().hex
    write_json(layout.request_file, {"id": rid, "action": action})
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        b = read_state(layout).get("broker") or {}
        if b.get("request") == rid:
            print(b.get("message", "done"))
            return 0
        clock.sleep(0.1)
    print(f"the demo (pid {pid}) did not answer within {timeout:g} s", file=sys.stderr)
    return 1


def run_demo(args: argparse.Namespace, *, hallvakt: Hallvakt) -> int:
    """``hallvakt demo [broker stop|start] [--dir D] [--headless] [--seconds N] [--offline]``,
    or ``hallvakt demo --db FILE [--seed N] [--date D]`` (package docstring)."""
    if args.db is not None:
        return run_schedule(args.db, args.seed, args.date)
    if args.date is not None:
        print("hallvakt demo: --date goes with --db (the running demo is today)", file=sys.stderr)
        return 2
    layout = Layout(args.dir.resolve())
    if args.action:
        if args.action not in (["broker", "stop"], ["broker", "start"]):
            print(
                "hallvakt demo: the only actions are `broker stop` and `broker start`",
                file=sys.stderr,
            )
            return 2
        return broker_command(layout, args.action[1])
    reason = offline_reason(args.offline)
    seconds: float | None = args.seconds
    if seconds is None and not sys.stdin.isatty():
        seconds = NONINTERACTIVE_SECONDS
        print(
            f"stdin is not a terminal: the demo stops after {seconds:g} s (--seconds N to change)"
        )
    headless = args.headless or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    demo = Demo(
        layout,
        online=not reason,
        offline_reason=reason,
        headless=headless,
        seconds=seconds,
        seed=args.seed,
        hallvakt=hallvakt,
    )
    from hallvakt.demo.broker import BrokerError

    try:
        return demo.run()
    except (DemoError, BrokerError) as exc:
        print(f"hallvakt demo: {exc}", file=sys.stderr)
        return 1

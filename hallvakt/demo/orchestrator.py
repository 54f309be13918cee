"""The running demo: set up, start, wait until ready, print the panel, serve, stop.

Rules this module guarantees:
- ``DIR/run/demo.json`` says what runs (pids, port, logs), whether the demo is
  ready and what is wrong; it is rewritten atomically on every change.
- Ready means: central's snapshot applied (online), the main entrance's reader
  online, and the kiosk's first frame; the panel is printed then, or after
  ``READY_TIMEOUT_S`` with what it still waits for among its problems. The
  state file says ``running`` only once the panel is printed.
- SIGINT and SIGTERM, or the end of ``seconds``, end the demo; the children
  stop in reverse order of start (each as processes.py says), the broker last.
- ``hallvakt demo broker stop|start`` (main.py) asks through
  ``run/broker-request.json``; each request is answered once, in the broker
  part of the state file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time as clock
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from hallvakt.demo.data import DEMO_NODE, FACILITY_ID
from sync.replica import Replica, reader_states

from ..progress import Screen, Tracker, read_sample, status_file
from .files import Layout, setup, write_json
from .offline import copy_central_into_node
from .panel import book_args, panel, report_args, shown, typed_hallvakt
from .processes import Child, broker_in_own_session, hallvakt_argv
from .world import DEMO_TZ, READER, Hallvakt, Plan

READY_TIMEOUT_S = 90.0
CENTRAL_CONNECTED = "hallvakt.central.link INFO connected"  # sync/central/link.py's log line


class Demo:
    """Set up, start, wait until ready, print the panel, serve, stop (module rules)."""

    def __init__(
        self,
        layout: Layout,
        *,
        online: bool,
        offline_reason: str,
        headless: bool,
        seconds: float | None,
        seed: int,
        hallvakt: Hallvakt,
    ) -> None:
        self.layout = layout
        self.online = online
        self.headless = headless
        self.seconds = seconds
        self.seed = seed
        self.hallvakt = hallvakt
        self.stop = threading.Event()
        self.children: list[Child] = []
        self.broker: Any = None  # hallvakt.demo.broker.PrivateBroker when online
        self.broker_up = False
        self.plan: Plan | None = None
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "state": "starting",
            "ready": False,
            "mode": "online" if online else "offline",
            "offline_reason": offline_reason,
            "dir": str(layout.root.resolve()),
            "node": {
                "id": DEMO_NODE,
                "facility": FACILITY_ID,
                "config": str(layout.node_toml.resolve()),
                "database": str(layout.database.resolve()),
            },
            "central": {"config": str(layout.central_toml.resolve()), "store": None},
            "broker": None,
            "processes": {},
            "kiosk": "offscreen" if headless else "window",
            "screens": str(layout.screens.resolve()) if headless else None,
            "people": [],
            "book": None,
            "problems": [],
        }

    # -- state ---------------------------------------------------------------------

    def save(self) -> None:
        procs = self.state["processes"]
        for c in self.children:
            procs[c.name] = {
                "pid": c.pid,
                "log": str(c.log.resolve()),
                "alive": c.alive(),
                "exit": None if c.proc is None else c.proc.poll(),
            }
        if self.broker is not None:
            self.state["broker"] = {
                **(self.state["broker"] or {}),
                "pid": self.broker.pid,
                "port": self.broker.tcp_address[1],
                "running": self.broker.running,
                "log": str(self.broker.log_path.resolve()),
            }
        write_json(self.layout.state_file, self.state)

    def say(self, text: str) -> None:
        print(text, flush=True)

    def problem(self, text: str) -> None:
        self.state["problems"].append(text)
        self.say(f"! {text}")

    # -- the run -------------------------------------------------------------------------

    def run(self) -> int:
        self.layout.reset()  # raises DemoError, before this demo writes anything
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            if not self.stop.is_set():
                self.wait_ready()
            if not self.stop.is_set():
                self.say(panel(self.state, typed_hallvakt(), self.seconds))
                self.save()  # "running" only now: whoever reads demo.json finds the panel out
                self.serve()
        finally:
            code = self.shutdown()
            for s, h in previous.items():
                signal.signal(s, h)
        return code

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stop.is_set():
            print(f"\n{signal.Signals(signum).name}: stopping the demo…", flush=True)
        self.stop.set()

    def start(self) -> None:
        lay = self.layout
        self.save()
        now = datetime.now(UTC)
        port = 1883
        if self.online:
            from hallvakt.demo.broker import BrokerConfig, PrivateBroker

            self.broker = PrivateBroker(
                BrokerConfig(unix_socket=None, tcp_port=0),
                directory=lay.root / "broker",
                executable=broker_in_own_session(lay.root / "broker"),
            )
            self.broker.start()
            self.broker_up = True
            port = self.broker.tcp_address[1]
            self.state["broker"] = {"request": None, "message": ""}
        with open(lay.logs / "setup.log", "w", encoding="utf-8") as log:
            self.plan = setup(lay, port, self.seed, now, log, self.hallvakt)
        self.state["central"]["store"] = str(lay.central_db.resolve())
        self.state["people"] = [
            {"label": p.label, "card": p.card, "pin": p.pin, "note": p.note}
            for p in self.plan.people
        ]
        cfg = str(lay.node_toml.resolve())
        hv = hallvakt_argv()
        if self.online:
            self.state["book"] = book_args(lay, self.plan)
            self.state["report"] = report_args(lay, self.plan)
            self._spawn("central", [*hv, "central", "--config", str(lay.central_toml.resolve())])
            self._central_subscribed(self.children[-1])
            self._spawn("sync", [*hv, "sync", "--config", cfg, "--trust-clock"])
            self._start_web(hv)
        else:
            rev = copy_central_into_node(lay, now)
            self.say(f"offline: central's demo data (rev {rev}) copied into {shown(lay.database)}")
        self._spawn("door", [*hv, "door", "--simulate", "--trust-clock", "--config", cfg])
        kiosk = [sys.executable, "-m", "hallvakt.demo", "kiosk", "--config", cfg]
        env: dict[str, str | None] = {"KIVY_HOME": str(lay.root / "kivy"), "KIVY_NO_ARGS": "1"}
        if self.headless:  # SDL's offscreen driver, Mesa EGL, even where a display exists
            kiosk += ["--screens", str(lay.screens)]
            env.update(DISPLAY=None, WAYLAND_DISPLAY=None, SDL_VIDEODRIVER="offscreen")
        self._spawn("kiosk", kiosk, env)
        self.save()

    def _start_web(self, hv: list[str], timeout: float = 15.0) -> None:
        """Central's web page on a free loopback port, with the demo account
        (hallvakt/demo/web.py); its URL is read from its log."""
        from hallvakt.demo.web import DEMO_PASSWORD, DEMO_USER, add_demo_account, url_in_log

        add_demo_account(str(self.layout.central_db.resolve()))
        central_cfg = str(self.layout.central_toml.resolve())
        self._spawn("web", [*hv, "central", "web", "--config", central_cfg, "--port", "0"])
        web = self.children[-1]
        deadline = clock.monotonic() + timeout
        url = None
        while url is None and clock.monotonic() < deadline and web.alive():
            url = url_in_log(web.log.read_text(encoding="utf-8", errors="replace"))
            clock.sleep(0.1)
        if url is None:
            self.problem(f"central's web page did not start: see {shown(web.log)}")
            return
        self.state["web"] = {"url": url, "user": DEMO_USER, "password": DEMO_PASSWORD}

    def _central_subscribed(self, central: Child, timeout: float = 15.0) -> None:
        """Wait until the gateway has connected (its log says so) and a moment for its
        SUBSCRIBE: the node's first hello must find central's shared subscription,
        or central records no hello until the node connects again."""
        deadline = clock.monotonic() + timeout
        while clock.monotonic() < deadline and central.alive() and not self.stop.is_set():
            if CENTRAL_CONNECTED in central.log.read_text(encoding="utf-8", errors="replace"):
                self.stop.wait(0.5)
                return
            self.stop.wait(0.05)
        self.problem(f"central did not connect to the broker: see {shown(central.log)}")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str | None] | None = None) -> None:
        child = Child(name, argv, self.layout.logs / f"{name}.log", env or {})
        child.start()
        self.children.append(child)

    def wait_ready(self) -> None:
        """Until the snapshot is applied and the reader online (module rules)."""
        lay = self.layout
        tracker = Tracker()
        draw = sys.stdout.isatty() and self.online  # in place (rich's Live), on a terminal only
        deadline = clock.monotonic() + READY_TIMEOUT_S
        kiosk_since = clock.monotonic()
        waiting: list[str] = []
        self.say("starting: " + ", ".join(f"{c.name} (pid {c.pid})" for c in self.children))
        with (
            Replica.open(lay.database, default_tz=DEMO_TZ) as rep,
            Screen(sys.stdout, tty=draw) as screen,
        ):
            while not self.stop.wait(0.2):
                sample = read_sample(
                    rep, status_file(lay.database), clock.monotonic(), datetime.now(UTC)
                )
                online_readers = {r.reader for r in reader_states(rep) if r.online}
                waiting = []
                if self.online and sample.applied_rev == 0:
                    waiting.append("central's snapshot")
                if READER not in online_readers:
                    waiting.append(f"reader {READER} online")
                kiosk = next(c for c in self.children if c.name == "kiosk")
                if kiosk.alive() and (
                    (self.headless and not (lay.screens / "kiosk-latest.png").exists())
                    or (not self.headless and clock.monotonic() - kiosk_since < 3)
                ):
                    waiting.append("the kiosk's first frame")
                self.watch_children()
                if draw:
                    head = "waiting for: " + ", ".join(waiting) if waiting else "ready"
                    screen.draw(tracker.update(sample), sample.mono, head=[head])
                if not waiting or clock.monotonic() > deadline:
                    break
        if waiting and not self.stop.is_set():
            self.problem(
                f"not ready after {READY_TIMEOUT_S:.0f} s: waiting for {', '.join(waiting)}"
            )
        self.state["state"] = "running"  # saved once the panel is out (run)
        self.state["ready"] = not waiting and not self.state["problems"]

    def watch_children(self) -> None:
        for c in self.children:
            if not c.reported and c.proc is not None and c.proc.poll() is not None:
                c.reported = True
                hint = ""
                if c.name == "kiosk":
                    hint = " (Kivy needs a display or the Mesa EGL libraries: make deps-debian)"
                self.problem(
                    f"{c.name} exited with status {c.proc.returncode}: see {shown(c.log)}{hint}"
                )
                self.save()
        if self.broker is not None and self.broker_up and not self.broker.running:
            self.broker_up = False
            self.say(
                "broker stopped: the node carries on offline (doors, kiosk); its events wait in"
                " the outbox. `hallvakt demo broker start` brings it back."
            )
            self.save()

    def serve(self) -> None:
        seconds = self.seconds
        deadline = None if seconds is None else clock.monotonic() + seconds
        while not self.stop.wait(0.25):
            if deadline is not None and clock.monotonic() >= deadline:
                self.say(f"{seconds:g} s are over: stopping the demo…")
                break
            self.handle_request()
            self.watch_children()

    def handle_request(self) -> None:
        try:
            req = json.loads(self.layout.request_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        b = self.state["broker"]
        if b is None or not isinstance(req, dict) or req.get("id") == b.get("request"):
            return
        action = req.get("action")
        if self.broker is None:
            message = "there is no broker in this demo (it runs offline)"
        elif action == "stop":
            if self.broker.running:
                self.broker.terminate()
            self.broker_up = False
            message = (
                f"broker stopped (port {self.broker.tcp_address[1]} closed): the node carries on"
                " offline; events wait in the outbox"
            )
        elif action == "start":
            if not self.broker.running:
                self.broker.start()
            self.broker_up = True
            message = (
                f"broker running again (pid {self.broker.pid}): the link reconnects within its"
                " back-off and the outbox drains"
            )
        else:
            message = f"unknown broker action {action!r}"
        b.update(request=req.get("id"), message=message)
        self.say(message)
        self.save()

    def shutdown(self) -> int:
        self.state["state"] = "stopping"
        self.state["ready"] = False
        with contextlib.suppress(OSError):
            self.save()
        code = 0
        report = []
        for c in reversed(self.children):
            status = c.stop()
            report.append(f"{c.name} {_exit_text(status)}")
            if c.name != "kiosk" and status not in (0, None, -signal.SIGTERM):
                code = 1
        if self.broker is not None:
            from hallvakt.demo.broker import BrokerError

            try:
                self.broker.stop()
                report.append("broker stopped")
            except BrokerError as exc:
                report.append(f"broker: {exc}")
                code = 1
        self.state["state"] = "stopped"
        with contextlib.suppress(OSError):
            self.save()
        if report:
            self.say("stopped: " + ", ".join(report))
        return code


def _exit_text(status: int | None) -> str:
    if status is None:
        return "never started"
    if status < 0:
        return f"stopped by {signal.Signals(-status).name}"
    return "exited cleanly" if status == 0 else f"exited with status {status}"

"""``hallvakt demo``: the whole system on one machine, with a demo municipality.

``hallvakt demo [--dir .demo] [--headless] [--seconds N] [--offline]`` runs, each
as a child process with its log in ``DIR/logs/``: a private Mosquitto on
loopback (sync/broker.py), the reference central gateway with the demo facility
seeded for today, and one facility node ``demo.node.n1``: its sync link, its
door controller with libosdp's simulated readers on a pty, and its kiosk (in a
window when there is a display, else offscreen with a screenshot every few
seconds in ``DIR/screens/``). When the node has applied central's snapshot and
its door reader is online, it prints a panel: what runs, demo cards and PINs,
and commands to copy. ``hallvakt demo broker stop|start`` takes the broker away
and brings it back, to watch the node carry on offline.

Rules this module guarantees:
- Everything is made again under ``DIR`` on every run (``central/``, ``node/``,
  ``broker/``, ``logs/``, ``screens/``, ``run/``, ``kivy/``; nothing else there
  is touched), through the same steps an operator takes: ``hallvakt central
  init``, ``demo-seed`` and ``import``, ``hallvakt provision`` (with the demo
  credential key, so the demo cards match), ``register-node``. A second demo
  on the same directory is refused while one runs.
- ``DIR/run/demo.json`` says what runs (pids, port, logs), whether the demo is
  ready and what is wrong; it is rewritten atomically on every change.
- Children run in sessions of their own: Ctrl-C in the terminal reaches only
  this process, which stops them in reverse order of start: SIGTERM, then
  SIGKILL to the whole process group after ``STOP_TIMEOUT_S``; anything left
  in a group (a simulator) gets the same. SIGINT and SIGTERM, or ``--seconds``,
  end the demo. With stdin not a terminal (``make demo`` in CI) and no
  ``--seconds``, it runs ``NONINTERACTIVE_SECONDS`` and stops.
- Without mosquitto (or with ``--offline``) there is no broker, gateway or sync:
  central's demo data is copied straight into the node database, and no head
  from central is recorded, because none was verified. The door then follows
  PROTOCOL.md §7 for a node that never heard from central: staff grants only
  (leaders' cards are denied ``stale_replica``); the kiosk says so in its banner
  and walk-ins wait in the outbox. The panel says all of this.
- For the demo to work at any hour, central also gets (by ``import``) a room
  booked now for the first demo leader's association ("Demosalen", four hours
  from the start of this hour) and a drop-in room with walk-in windows round the
  clock, both behind the main entrance, the door the node controls.
- ``hallvakt demo --db FILE`` only writes a demo node database and prints the
  day's schedule (the first demo), starting nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time as clock
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from sync.demodata import (
    DEMO_CREDENTIAL_KEY,
    DEMO_NODE,
    FACILITY_ID,
    Entities,
    demo_credentials,
    generate,
    load_into,
)
from sync.replica import (
    Booking,
    Door,
    Replica,
    Resource,
    ScheduleEntry,
    card_digest,
    day_schedule,
    free_slots,
    reader_states,
    resource_tree,
)
from sync.replica.timeutil import day_bounds, local_to_instant, zone

from ..progress import Tracker, read_sample, render, status_file

DEMO_TZ = "Europe/Stockholm"
CENTRAL_KID = "central-demo"
DOOR = "door.main"
READER = "main-in"
KIOSK_READER = "foyer-kiosk"
DEMO_ROOM, DROPIN_ROOM = "demo.room", "demo.dropin"
DEMO_BOOKING = "b.demo.now"
DEMO_HOURS = 4
STOP_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 90.0
NONINTERACTIVE_SECONDS = 60.0
SHOT_EVERY_S = 5.0
KEEP_SHOTS = 60
CENTRAL_CONNECTED = "hallvakt.central.link INFO connected"  # sync/central/link.py's log line
SUBDIRS = ("central", "node", "broker", "logs", "screens", "run", "kivy")
WEEKDAYS_SV = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MONTHS_SV = (
    "januari", "februari", "mars", "april", "maj", "juni",
    "juli", "augusti", "september", "oktober", "november", "december",
)  # fmt: skip


class DemoError(Exception):
    """The demo cannot start; the message says why and where to look."""


# --- hallvakt demo --db FILE: a database and today's schedule -----------------------


def run_schedule(db: Path, seed: int, day: date | None) -> int:
    """Recreate a demo node database at ``db`` and print the day's schedule."""
    day = day or datetime.now(zone(DEMO_TZ)).date()
    db.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    entities = generate(seed=seed, today=day, tz=DEMO_TZ)
    with Replica.open(db) as rep:
        loaded = load_into(rep, entities, rev=1, now=datetime.now(UTC))
        print_schedule(rep, day)
    print(f"Demo database: {db} (rev 1, {loaded} records, seed {seed})")
    print(f"Walk-in leases held by node {DEMO_NODE}. Demo credentials (demo credential key):")
    for label, what in demo_credentials(entities, seed=seed, today=day).items():
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


# --- files ------------------------------------------------------------------------------


class Layout:
    """Where everything of one demo lives under ``root`` (an absolute path)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.central_toml = root / "central" / "central.toml"
        self.central_db = root / "central" / "central.db"
        self.node_toml = root / "node" / "node.toml"
        self.database = root / "node" / "node.db"
        self.logs = root / "logs"
        self.screens = root / "screens"
        self.state_file = root / "run" / "demo.json"
        self.request_file = root / "run" / "broker-request.json"

    def reset(self) -> None:
        """Remove what an earlier demo left (only the demo's own folders)."""
        running = read_state(self)
        pid = running.get("pid")
        if running.get("state") not in (None, "stopped") and isinstance(pid, int) and _alive(pid):
            raise DemoError(f"a demo is already running in {self.root} (pid {pid})")
        # A demo that was killed (SIGKILL) could not stop its children: stop them now.
        procs = [p.get("pid") for p in (running.get("processes") or {}).values()]
        for leftover in [*procs, (running.get("broker") or {}).get("pid")]:
            if isinstance(leftover, int) and str(self.root) in _cmdline(leftover):
                clear_group(leftover, STOP_TIMEOUT_S)
        for name in SUBDIRS:
            shutil.rmtree(self.root / name, ignore_errors=True)
        for name in SUBDIRS:
            (self.root / name).mkdir(parents=True, exist_ok=True)


def read_state(layout: Layout) -> dict[str, Any]:
    try:
        data = json.loads(layout.state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Atomically (temp file and rename): readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped yet, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def central_toml(port: int) -> str:
    return (
        "# The demo's central (written by `hallvakt demo`, recreated on every run).\n"
        'store = "central.db"\n\n'
        "[signing]\n"
        'key = "secrets/central.key"\n'
        f'kid = "{CENTRAL_KID}"\n\n'
        "[broker]\n"
        f'url = "mqtt://127.0.0.1:{port}"\n'
        'client_id = "central-demo"\n'
        "keepalive_s = 10\n"
    )


def node_toml(port: int, central_key: str) -> str:
    return f"""\
# The demo node (written by `hallvakt demo`, recreated on every run). The serial
# ports are placeholders: `hallvakt door --simulate` puts libosdp's simulated
# readers and a simulated relay board on ptys in their place.
node_id = "{DEMO_NODE}"
facility_id = "{FACILITY_ID}"
timezone = "{DEMO_TZ}"
database = "node.db"
node_key = "secrets/node.key"
credential_key = "secrets/credential.key"

[broker]
url = "mqtt://127.0.0.1:{port}"
keepalive_s = 10  # notice a stopped broker within seconds

[central_keys]
{CENTRAL_KID} = "{central_key}"

[[outputs]]
id = "relays"
port = "/dev/ttyDEMO-relays"
channels = 2

[[doors]]
id = "{DOOR}"
lock = {{ output = "relays", channel = 1, mode = "fail-safe" }}

[[readers]]
id = "{READER}"
kind = "osdp"
port = "/dev/ttyDEMO-osdp"
address = 0
key = "secrets/reader-{READER}.key"
door = "{DOOR}"
direction = "in"

[[readers]]
id = "{KIOSK_READER}"
kind = "osdp"
port = "/dev/ttyDEMO-osdp"
address = 1
key = "secrets/reader-{KIOSK_READER}.key"
kiosk = "foyer"

[[kiosks]]
id = "foyer"
screen = "540x960"
"""


# --- the demo data: central's, and what the panel offers ------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    label: str
    card: str
    pin: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """What the demo seeds beyond ``demo-seed`` and who to be at the door."""

    people: tuple[Person, ...]
    extras: dict[str, Any]
    booked_until: datetime  # the demo booking's end, facility time
    book_start: datetime  # the suggested central booking, facility time
    book_end: datetime


def plan(seed: int, now: datetime) -> Plan:
    """The demo's people and extra records for the facility day of ``now``."""
    tz = zone(DEMO_TZ)
    local = now.astimezone(tz)
    entities = generate(seed=seed, today=local.date(), tz=DEMO_TZ)
    start = local.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=DEMO_HOURS)
    people: list[Person] = []
    team: str | None = None
    for label, what in demo_credentials(entities, seed=seed, today=local.date()).items():
        card, _, pin = what.removeprefix("card ").partition(" + PIN ")
        holder = _holder_of(entities, card)
        if not pin:
            note = f"staff grant {_hours(entities, holder)}; no PIN"
        elif team is None:
            team = str(holder["member_of"][0])
            note = f"the team is booked in Demosalen now, until {end:%H:%M}"
        else:
            note = "opens from 30 min before the team's booking"
        people.append(Person(label, card, pin or None, note))
    if team is None:
        raise DemoError(f"demo data seed {seed} has no leader to show")
    main = next(Door.from_wire(d) for d in entities["door"] if d["id"] == DOOR)
    door = Door(
        main.id,
        main.name,
        (*main.resources, DEMO_ROOM, DROPIN_ROOM),
        main.before_minutes,
        main.after_minutes,
        main.unlock_seconds,
        main.held_open_seconds,
        main.fail_mode,
    )
    booking = Booking(
        DEMO_BOOKING,
        (DEMO_ROOM,),
        start.astimezone(UTC),
        end.astimezone(UTC),
        team,
        "Demo: träning",
    )
    extras = {
        "resource": [
            Resource(DEMO_ROOM, "Demosalen", "room", None, None, 2, 100).to_wire(),
            Resource(DROPIN_ROOM, "Drop-in-salen", "room", None, 30, 4, 110).to_wire(),
        ],
        "door": [door.to_wire()],
        "booking": [booking.to_wire()],
        "walkin_windows": [
            {
                "resource": DROPIN_ROOM,
                "node": DEMO_NODE,
                "windows": [{"days": [1, 2, 3, 4, 5, 6, 7], "from": "00:00", "to": "24:00"}],
            }
        ],
    }
    # Gymmet is free from 22:00 every day (sync/demodata.py: its zones end by then).
    book_start = local_to_instant(local.date(), time(22, 0), tz).astimezone(tz)
    return Plan(tuple(people), extras, end, book_start, book_start + timedelta(hours=1))


def _holder_of(entities: Entities, card: str) -> dict[str, Any]:
    """The holder record behind a demo card."""
    digest = card_digest(DEMO_CREDENTIAL_KEY, card)
    holder = next(c["holder"] for c in entities["credential"] if c["digest"] == digest)
    return next(h for h in entities["holder"] if h["id"] == holder)


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _hours(entities: Entities, holder: Mapping[str, Any]) -> str:
    """A staff grant's weekly windows, e.g. ``Mon-Fri 06:00-22:00, Sat-Sun 08:00-18:00``."""
    out = []
    for g in entities["grant"]:
        if g["holder"] != holder["id"]:
            continue
        for w in g["windows"]:
            days = sorted(w["days"])
            if days == list(range(1, 8)):
                span = "every day"
            elif days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
                span = f"{DAY_NAMES[days[0] - 1]}-{DAY_NAMES[days[-1] - 1]}"
            else:
                span = ",".join(DAY_NAMES[d - 1] for d in days)
            out.append(f"{span} {w['from']}-{w['to']}")
    return ", ".join(out) or "(none)"


def setup(layout: Layout, port: int, seed: int, now: datetime, log: TextIO) -> Plan:
    """Central's store, the node's config and secrets, registration (module rules)."""
    from sync.central import admin

    from ..config import load_config
    from ..model import b64url
    from ..provision import provision
    from ..secrets import encode_hex_key, load_node_key, write_secret

    def central(action: str, *rest: str) -> None:
        print(f"$ hallvakt central {action} {shlex.join(rest)}", file=log, flush=True)
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = admin.main(action, list(rest), layout.central_toml)
        if code != 0:
            raise DemoError(
                f"hallvakt central {action} failed ({code}): see {layout.logs}/setup.log"
            )

    demo = plan(seed, now)
    layout.central_toml.write_text(central_toml(port), encoding="utf-8")
    central("init")
    central("demo-seed", "--node", DEMO_NODE, "--seed", str(seed))
    extras = layout.root / "central" / "demo-extras.json"
    write_json(extras, demo.extras)
    central("import", "--facility", FACILITY_ID, str(extras))
    central_key = load_node_key(layout.root / "central" / "secrets" / "central.key")
    pub = b64url(central_key.public_key().public_bytes_raw())
    layout.node_toml.write_text(node_toml(port, pub), encoding="utf-8")
    key_file = layout.root / "node" / "import" / "demo-credential.key"  # the municipality's K
    write_secret(key_file, encode_hex_key(DEMO_CREDENTIAL_KEY))
    cfg = load_config(layout.node_toml, files=False)
    done = provision(cfg, import_credential_key=key_file)
    key_file.unlink()
    for f in done.files:
        print(f"{f.action:<9} {f.what:<24} {f.path}", file=log)
    reg = done.registration
    central("register-node", "--node", DEMO_NODE, "--facility", FACILITY_ID,
            "--public-key", b64url(reg.public_key))  # fmt: skip
    Replica.open(cfg.database, default_tz=DEMO_TZ).close()  # created and migrated once, here
    return demo


def copy_central_into_node(layout: Layout, now: datetime) -> int:
    """Offline: central's current records straight into the node database (no
    head: nothing from central was verified). Returns the revision copied."""
    from sync.central import changelog as cl
    from sync.central.db import Store
    from sync.replica import replace_all

    with Store.open(layout.central_db) as store:
        rev = cl.revs(store, FACILITY_ID).rev
        records = cl.all_records(store, FACILITY_ID)
    with Replica.open(layout.database, default_tz=DEMO_TZ) as rep:
        replace_all(rep, rev, records, now)
    return rev


# --- child processes ------------------------------------------------------------------


@dataclass(slots=True)
class Child:
    """One process of the demo, in a session (process group) of its own."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str | None] = field(default_factory=dict)  # None: remove the variable
    proc: subprocess.Popen[bytes] | None = None
    reported: bool = False

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={
                    k: v
                    for k, v in {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}.items()
                    if v is not None
                },
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL to the group; then whatever is left in the group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        clear_group(self.proc.pid, timeout)
        return self.proc.returncode


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal every process in group ``pgid`` (0: only ask whether there is one)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def clear_group(pgid: int, timeout: float) -> None:
    """End every process still in group ``pgid``: SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _signal_group(pgid, sig):
            return
        deadline = clock.monotonic() + timeout
        while clock.monotonic() < deadline:
            if not _group_alive(pgid):
                return
            clock.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count: one
    whose parent died waits for init, which in a container may never reap it)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return _signal_group(pgid, 0)
    for name in names:
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def broker_in_own_session(folder: Path) -> str | None:
    """A wrapper that runs mosquitto in a session of its own (``setsid``, which
    does not fork here: the wrapper is no group leader, so the pid stays the
    broker's), so that Ctrl-C reaches only the demo, which stops the broker last.
    None (plain mosquitto) when ``setsid`` or mosquitto is missing."""
    from sync.broker import mosquitto_executable

    setsid, mosquitto = shutil.which("setsid"), mosquitto_executable()
    if setsid is None or mosquitto is None:
        return None
    wrapper = folder / "mosquitto-own-session"
    folder.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(setsid)} {shlex.quote(mosquitto)} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def hallvakt_argv() -> list[str]:
    """How the children run ``hallvakt`` (whatever started this process)."""
    return [sys.executable, "-m", "firmware_config.cli"]


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
    return f"{shlex.quote(sys.executable)} -m firmware_config.cli"


# --- the kiosk child: run_kiosk, and screenshots when offscreen --------------------------


class Shooter:
    """Saves the kiosk's window every ``SHOT_EVERY_S``: ``kiosk-latest.png`` and a
    numbered copy whenever the picture changed (the newest ``KEEP_SHOTS``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.last: bytes | None = None
        self.count = 0

    def take(self, _dt: float) -> None:
        from kivy.core.window import Window

        path = Path(Window.screenshot(name=str(self.folder / "shot.png")))
        data = path.read_bytes()
        if data != self.last:
            self.count += 1
            shutil.copyfile(
                path, self.folder / f"kiosk-{self.count:04d}-{clock.strftime('%H%M%S')}.png"
            )
            for old in sorted(self.folder.glob("kiosk-0*.png"))[:-KEEP_SHOTS]:
                old.unlink(missing_ok=True)
            self.last = data
        os.replace(path, self.folder / "kiosk-latest.png")


def kiosk_child(argv: Sequence[str]) -> int:
    """``python -m firmware_config.demo kiosk --config FILE [--screens DIR]``:
    ``hallvakt kiosk`` that stops cleanly on SIGTERM and, with ``--screens``,
    saves screenshots."""
    p = argparse.ArgumentParser(prog="firmware_config.demo kiosk")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--screens", type=Path, default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.clock import Clock

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())

    def check_stop(_dt: float) -> None:
        if stop.is_set():
            from kivy.app import App

            app = App.get_running_app()
            if app is not None:
                app.stop()

    Clock.schedule_interval(check_stop, 0.2)
    if args.screens is not None:
        args.screens.mkdir(parents=True, exist_ok=True)
        shooter = Shooter(args.screens)
        Clock.schedule_once(shooter.take, 2.0)
        Clock.schedule_interval(shooter.take, SHOT_EVERY_S)
    from kiosk import main as kiosk_main

    code: int = kiosk_main.run_kiosk(
        argparse.Namespace(config=args.config, kiosk=None, fullscreen=False)
    )
    return code


# --- the orchestrator ---------------------------------------------------------------------


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
    ) -> None:
        self.layout = layout
        self.online = online
        self.headless = headless
        self.seconds = seconds
        self.seed = seed
        self.stop = threading.Event()
        self.children: list[Child] = []
        self.broker: Any = None  # sync.broker.PrivateBroker when online
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
            from sync.broker import BrokerConfig, PrivateBroker

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
            self.plan = setup(lay, port, self.seed, now, log)
        self.state["central"]["store"] = str(lay.central_db.resolve())
        self.state["people"] = [
            {"label": p.label, "card": p.card, "pin": p.pin, "note": p.note}
            for p in self.plan.people
        ]
        cfg = str(lay.node_toml.resolve())
        hv = hallvakt_argv()
        if self.online:
            self.state["book"] = book_args(lay, self.plan)
            self._spawn("central", [*hv, "central", "--config", str(lay.central_toml.resolve())])
            self._central_subscribed(self.children[-1])
            self._spawn("sync", [*hv, "sync", "--config", cfg, "--trust-clock"])
        else:
            rev = copy_central_into_node(lay, now)
            self.say(f"offline: central's demo data (rev {rev}) copied into {shown(lay.database)}")
        self._spawn("door", [*hv, "door", "--simulate", "--trust-clock", "--config", cfg])
        kiosk = [sys.executable, "-m", "firmware_config.demo", "kiosk", "--config", cfg]
        env: dict[str, str | None] = {"KIVY_HOME": str(lay.root / "kivy"), "KIVY_NO_ARGS": "1"}
        if self.headless:  # SDL's offscreen driver, Mesa EGL, even where a display exists
            kiosk += ["--screens", str(lay.screens)]
            env.update(DISPLAY=None, WAYLAND_DISPLAY=None, SDL_VIDEODRIVER="offscreen")
        self._spawn("kiosk", kiosk, env)
        self.save()

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
        tty = sys.stdout.isatty()
        drawn = 0
        deadline = clock.monotonic() + READY_TIMEOUT_S
        kiosk_since = clock.monotonic()
        waiting: list[str] = []
        self.say("starting: " + ", ".join(f"{c.name} (pid {c.pid})" for c in self.children))
        with Replica.open(lay.database, default_tz=DEMO_TZ) as rep:
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
                if tty and self.online:
                    lines = ["waiting for: " + ", ".join(waiting) if waiting else "ready"]
                    lines += render(tracker.update(sample), shutil.get_terminal_size().columns)
                    up = f"\x1b[{drawn}F" if drawn else ""
                    sys.stdout.write(up + "\x1b[J" + "\n".join(lines) + "\n")
                    sys.stdout.flush()
                    drawn = len(lines)
                if not waiting or clock.monotonic() > deadline:
                    break
        if waiting and not self.stop.is_set():
            self.problem(
                f"not ready after {READY_TIMEOUT_S:.0f} s: waiting for {', '.join(waiting)}"
            )
        self.state["state"] = "running"
        self.state["ready"] = not waiting and not self.state["problems"]
        self.save()

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
            from sync.broker import BrokerError

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


def book_args(layout: Layout, p: Plan) -> list[str]:
    """``hallvakt central book ...`` (without the program) for the panel's booking."""
    return [
        "central", "book", "--config", str(layout.central_toml.resolve()),
        "--facility", FACILITY_ID, "--resource", "gym",
        "--start", f"{p.book_start:%Y-%m-%d %H:%M}", "--end", f"{p.book_end:%Y-%m-%d %H:%M}",
        "--title", "Kvällsträning (central)",
    ]  # fmt: skip


# --- the panel ------------------------------------------------------------------------------


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


# --- hallvakt demo broker stop|start ------------------------------------------------------


def broker_command(layout: Layout, action: str, timeout: float = 20.0) -> int:
    """Ask the running demo to stop or start its broker; wait for its answer."""
    st = read_state(layout)
    pid = st.get("pid")
    if st.get("state") in (None, "stopped") or not isinstance(pid, int) or not _alive(pid):
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


# --- hallvakt demo ---------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    """``hallvakt demo [broker stop|start] [--dir D] [--headless] [--seconds N] [--offline]``,
    or ``hallvakt demo --db FILE [--seed N] [--date D]`` (module docstring)."""
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
    from sync.broker import mosquitto_available

    reason = ""
    if args.offline:
        reason = "--offline: no broker, no central gateway, no sync"
    elif not mosquitto_available():
        reason = "mosquitto is not installed: no broker, no central gateway, no sync"
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
    )
    from sync.broker import BrokerError

    try:
        return demo.run()
    except (DemoError, BrokerError) as exc:
        print(f"hallvakt demo: {exc}", file=sys.stderr)
        return 1


def _main(argv: Sequence[str]) -> int:
    if argv[:1] == ["kiosk"]:
        return kiosk_child(argv[1:])
    print(
        "usage: python -m firmware_config.demo kiosk --config FILE [--screens DIR]", file=sys.stderr
    )
    return 2

"""A node running the real ``hallvakt door`` process, for system tests and benches.

``DoorSite`` writes node.toml and its secrets, a node database holding a small
facility (door ``d1`` on the hall; a leader with card and PIN, a staff card
with a round-the-clock grant, a visitor code; bookings around ``now``), puts
libosdp's own peripheral devices in a process of their own on a pty
(``osdp_sim.SimProcess``, secure channel) and the far end of a relay board's
pty under a watcher that stamps every frame it reads with ``time.monotonic()``
(the clock the door process logs its decisions with), and runs ``hallvakt door
--config node.toml --trust-clock`` as a child whose log it reads.

Door ``d1``'s inputs are on reader ``r1`` (0 contact, 1 exit request, 2 fire
release, 3 tamper), all wired ``normally``; ``r2`` is the exit reader. The
lock is fail-secure on relay 1.

Rules this module guarantees:
- Nothing is left behind: ``close`` stops the door process, the simulator and
  the watcher, and closes the ptys.
- Waits poll with deadlines and fail at once when the door process died
  (with the tail of its log).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from door_controller.outputs.relay import RelayFrameParser, RelaySet
from door_controller.readers.osdp_sim import SimClient, SimProcess, SimReaderSpec, pty_pair
from door_controller.testing import site_ops
from firmware_config.secrets import encode_hex_key, encode_node_key, write_secret
from sync.replica import ChangeBatch, Replica, apply_changes, pending_events
from sync.replica.door_health import DoorFault, door_faults
from tests.support.e2e import hallvakt_argv

KEY = bytes(range(32))  # the municipality's credential key K of the test facility
SCBKS = {"r1": bytes.fromhex("00112233445566778899aabbccddeeff"), "r2": bytes(range(16, 32))}
ADDRESSES = {"r1": 1, "r2": 2}
LEADER_CARD, LEADER_PIN = "0ABCDE40/26", "4321"
STAFF_CARD = "11223344/32"
STRANGER_CARD = "DEADBEEF/32"
VISITOR_CODE = "246810"
NODE_ID = "test.hall.n1"
WAIT_S = 30.0
INPUTS = ("contact", "request_to_exit", "fire_release", "tamper")


@dataclass(frozen=True, slots=True)
class Frame:
    at: float  # time.monotonic() when the board's end read it
    channel: int
    on: bool


class RelayWatch:
    """The relay board's end of its pty: every frame, stamped."""

    def __init__(self, fd: int) -> None:
        self._fd, self._parser = fd, RelayFrameParser()
        self.frames: list[Frame] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._fd, 256)
            except OSError:
                continue
            at = time.monotonic()
            for ev in self._parser.feed(data):
                if isinstance(ev, RelaySet):
                    self.frames.append(Frame(at, ev.channel, ev.on))

    def released(self, channel: int = 1) -> bool | None:
        """Whether the last frame released the fail-secure lock (energised)."""
        mine = [f for f in self.frames if f.channel == channel]
        return mine[-1].on if mine else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class DoorSite:
    """See the module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        normally: str = "closed",
        now: datetime,
        policy: str = "",
        levels: tuple[bool, ...] | None = None,
        extra_ops: list[dict[str, Any]] | None = None,
        head_age: timedelta = timedelta(minutes=1),
        database: Path | None = None,
        env: dict[str, str] | None = None,
        seed: bool = True,
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.env = env or {}  # added to the door process's environment
        self.root, self.now, self.normally = root, now, normally
        self.config = root / "node.toml"
        self.database = database or root / "node.db"
        self.log = root / "door.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._start_stamp = 0
        self._closers: list[Callable[[], None]] = []
        secrets = root / "secrets"
        write_secret(secrets / "node.key", encode_node_key(Ed25519PrivateKey.generate()))
        write_secret(secrets / "credential.key", encode_hex_key(KEY))
        for reader, scbk in SCBKS.items():
            write_secret(secrets / f"reader-{reader}.key", encode_hex_key(scbk))
        rest = (normally == "closed",) * 4
        specs = [
            SimReaderSpec(ADDRESSES["r1"], SCBKS["r1"], 4, levels or rest),
            SimReaderSpec(ADDRESSES["r2"], SCBKS["r2"]),
        ]
        self.sim = SimProcess(specs, root / "osdp.sock")
        self._closers.append(lambda: void(self.sim.close()))
        self.client = SimClient(root / "osdp.sock")
        relay = pty_pair()
        self._closers.append(relay.close)
        self.relay = RelayWatch(relay.device_fd)
        self._closers.insert(0, self.relay.stop)
        self.config.write_text(self._toml(self.sim.controller_path, relay.controller_path, policy))
        if seed:  # else the database holds what a sync link took from central
            self._seed(now, extra_ops or [], head_age)

    def _seed(self, now: datetime, extra_ops: list[dict[str, Any]], head_age: timedelta) -> None:
        with Replica.open(self.database) as rep:
            ops = site_ops(KEY, now - timedelta(minutes=5)) + extra_ops
            ops.append(
                {  # staff round the clock: a test may run at any hour
                    "op": "upsert",
                    "entity": "grant",
                    "id": "g1",
                    "data": {
                        "id": "g1",
                        "holder": "s1",
                        "doors": ["d1"],
                        "windows": [
                            {"days": [1, 2, 3, 4, 5, 6, 7], "from": "00:00", "to": "12:00"},
                            {"days": [1, 2, 3, 4, 5, 6, 7], "from": "12:00", "to": "00:00"},
                        ],
                    },
                }
            )
            apply_changes(rep, ChangeBatch.from_wire({"base": 0, "rev": 5, "ops": ops}), now)
            rep.record_head(5, 1, now - head_age)

    def _toml(self, osdp_port: str, relay_port: str, policy: str) -> str:
        inputs = "\n".join(
            f'{name} = {{ source = "reader:r1:{i}", normally = "{self.normally}" }}'
            for i, name in enumerate(INPUTS)
        )
        readers = "\n".join(
            f"""[[readers]]
id = "{r}"
kind = "osdp"
port = "{osdp_port}"
baud = 115200
address = {ADDRESSES[r]}
key = "secrets/reader-{r}.key"
door = "d1"
direction = "{"in" if r == "r1" else "out"}"
"""
            for r in ("r1", "r2")
        )
        return f"""node_id = "{NODE_ID}"
facility_id = "f1"
database = "{self.database}"
timezone = "Europe/Stockholm"

[broker]
url = "mqtt://127.0.0.1:1883"

[central_keys]
central-1 = "IvH3EwtEwwIQfjNq_iATnrxqD919du29yrKZPqw9kcg"

[policy]
pin_max_attempts = 3
{policy}

[[outputs]]
id = "locks"
port = "{relay_port}"
channels = 2

[[doors]]
id = "d1"
lock = {{ output = "locks", channel = 1, mode = "fail-secure" }}
{inputs}

{readers}"""

    # --- the door process ------------------------------------------------------------

    def start(self) -> None:
        """Start ``hallvakt door`` and wait until its reader is online and the lock asserted."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the door process is already running")
        frames = len(self.relay.frames)
        self._start_stamp = int(time.time())
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*hallvakt_argv(), "door", "--config", str(self.config), "--trust-clock"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        self.wait(lambda: len(self.relay.frames) > frames, "the lock asserted on start")
        self.wait(lambda: self.reader_online(), "reader r1 online")

    def reader_online(self) -> bool:
        return self.client.status()["readers"][0]["sc_active"] is True and self._online_logged()

    def _online_logged(self) -> bool:
        with Replica.open(self.database) as rep:
            row = rep.conn.execute(
                "SELECT online, since_ts FROM reader_status WHERE reader = 'r1'"
            ).fetchone()
        return row is not None and bool(row[0]) and row[1] >= self._start_stamp

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Stop the door process (SIGTERM waits for its clean end; SIGKILL does not)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("the door process ignored SIGTERM for 20 s") from None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"hallvakt door exited with {self.proc.returncode}:\n{self.tail()}"
            )

    def wait(self, cond: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")
            time.sleep(0.02)

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def close(self) -> None:
        try:
            self.stop(signal.SIGKILL)
        finally:
            for close in self._closers:
                close()

    # --- a person at the door -------------------------------------------------------------

    def tap(self, card: str, reader: str = "r1") -> None:
        self.client.tap(card, address=ADDRESSES[reader])

    def keys(self, keys: str, reader: str = "r1") -> None:
        self.client.keys(keys, address=ADDRESSES[reader])

    def inputs(self, levels: tuple[bool, ...] | list[bool]) -> None:
        """Set r1's four raw input levels (1 = circuit closed)."""
        self.client.request("inputs", states=list(levels), address=ADDRESSES["r1"])

    def at_rest(self, **active: bool) -> list[bool]:
        """r1's raw levels with the named inputs (``fire_release=True``…) active."""
        rest = self.normally == "closed"
        return [rest != active.get(name, False) for name in INPUTS]

    # --- what it recorded --------------------------------------------------------------------

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        with Replica.open(self.database) as rep:
            return [(e.type, e.body) for e in pending_events(rep, limit=100_000)]

    def access(self) -> list[tuple[bool, str]]:
        return [
            (t == "access.granted", str(b["reason"]))
            for t, b in self.events()
            if t.startswith("access.")
        ]

    def door_state(self) -> str | None:
        with Replica.open(self.database) as rep:
            row = rep.conn.execute("SELECT state FROM door_status WHERE door = 'd1'").fetchone()
        return None if row is None else str(row[0])

    def faults(self) -> tuple[DoorFault, ...]:
        return door_faults(self.database, datetime.now(UTC))

    def decisions(self) -> list[tuple[str, float, str]]:
        """(granted|denied, decided_mono, relay_after_ms) of every logged decision."""
        found = re.findall(
            r"access (granted|denied) door=\S+ reader=\S+ reason=\S+"
            r" decided_mono=([0-9.]+) relay_after_ms=(\S+)",
            self.log_text(),
        )
        return [(g, float(m), r) for g, m, r in found]


def void(_: object) -> None:
    """Drop a return value (for closers that return one)."""

"""``hallvakt demo`` end to end: the whole system as a person meets it.

The demo runs headless as a child process (its own broker, central gateway,
sync link, door controller with libosdp's simulated readers, offscreen kiosk).
Once its state file says it is ready, the test:
- taps the demo leader's card and PIN at the door (``hallvakt tap``: GRANTED,
  the team is booked now) and a card nobody knows (DENIED);
- books a walk-in through the kiosk's view-model (``WalkinFlow``) against the
  node database, identified by the leader's card on the kiosk's reader;
- books centrally with the ``hallvakt central book`` command the panel prints;
- waits until central's store holds every event the node recorded (the node's
  outbox fully acknowledged, central's ``through`` at the node's last seq, the
  access and walk-in events among them), central accepted the walk-in, and the
  kiosk's Today view-model shows the central booking;
- sends SIGINT and checks that the demo exits 0 and no process it started (nor
  anything in their process groups) is left.
Without mosquitto, ``--offline`` is checked instead: no central, and the door
admits no leader on data central never confirmed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from door_controller.testing import FakeClock
from hallvakt.demo.broker import mosquitto_available
from hallvakt.demo.data import DEMO_CREDENTIAL_KEY, DEMO_NODE, FACILITY_ID
from hallvakt.progress import (
    LinkStatus,
    Sample,
    Staged,
    Tracker,
    read_status_file,
    render,
)
from kiosk.services import KioskSettings, Services
from kiosk.testing import RecordingSpeaker
from kiosk.today import build_today
from kiosk.walkin import W, WalkinFlow
from sync.replica import Replica, backlog, card_digest, walkin_states

ROOT = Path(__file__).resolve().parents[2]
HALLVAKT = (sys.executable, "-m", "hallvakt.cli")
UNKNOWN_CARD = "0BADC0DE/32"


def wait_for(cond: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class DemoRun:
    proc: subprocess.Popen[bytes]
    root: Path
    log: Path

    def state(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads((self.root / "run" / "demo.json").read_text())
        except (OSError, ValueError):
            return {}
        return doc

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def hallvakt(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*HALLVAKT, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )


def _start(tmp_path: Path, *extra: str) -> Iterator[DemoRun]:
    root, log = tmp_path / "demo", tmp_path / "demo.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*HALLVAKT, "demo", "--dir", str(root), "--headless", "--seconds", "150", *extra],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    run = DemoRun(proc, root, log)
    try:
        wait_for(
            lambda: run.state().get("state") == "running" or proc.poll() is not None,
            "the demo to be ready",
            timeout=60,
        )
        assert proc.poll() is None, run.output()
        yield run
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoRun]:
    if not mosquitto_available():
        pytest.skip(
            "mosquitto is not installed (Debian package mosquitto; `make test` installs it)"
        )
    yield from _start(tmp_path)


@pytest.fixture
def offline_demo(tmp_path: Path) -> Iterator[DemoRun]:
    yield from _start(tmp_path, "--offline")


def central(st: dict[str, Any]) -> sqlite3.Connection:
    """central's store, read-only."""
    return sqlite3.connect(f"file:{st['central']['store']}?mode=ro", uri=True)


def gone(pid: int) -> bool:
    """No process is left in the group (session) the demo started ``pid`` in."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_and_check(run: DemoRun) -> None:
    st = run.state()
    pids = [p["pid"] for p in st["processes"].values()]
    broker = (st.get("broker") or {}).get("pid")
    run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(40) == 0, run.output()
    assert run.state()["state"] == "stopped"
    assert "stopped: kiosk" in run.output()
    wait_for(lambda: all(gone(pid) for pid in pids), "every child's process group to be gone", 5)
    if broker is not None:
        wait_for(lambda: not Path(f"/proc/{broker}").exists(), "the broker to be gone", 5)


def test_demo_door_walkin_central_booking_and_clean_stop(demo: DemoRun) -> None:
    st = demo.state()
    assert st["ready"] and st["problems"] == [] and st["mode"] == "online", demo.output()
    assert "Be a person at the main entrance" in demo.output()
    # Central's web page: its URL and the demo login on the panel, and it answers.
    web = st["web"]
    assert f"Central's web page: {web['url']}" in demo.output()
    assert f"sign in as {web['user']}, password {web['password']}" in demo.output()
    with urllib.request.urlopen(web["url"] + "login", timeout=10) as page:
        assert page.status == 200 and 'name="password"' in page.read().decode()
    node_toml = st["node"]["config"]
    leader = st["people"][0]
    assert leader["pin"], st["people"]
    assert (Path(st["screens"]) / "kiosk-latest.png").exists()

    # At the door: the leader's team is booked now (card + PIN), and a stranger.
    tap = demo.hallvakt("tap", leader["card"], "--pin", leader["pin"], "--config", node_toml)
    assert tap.returncode == 0 and "GRANTED (booking) b.demo.now" in tap.stdout, tap
    tap = demo.hallvakt("tap", UNKNOWN_CARD, "--config", node_toml)
    assert tap.returncode == 3 and "DENIED (unknown_credential)" in tap.stdout, tap

    # At the kiosk: a walk-in in the drop-in room, identified by the leader's card.
    with Replica.open(st["node"]["database"]) as rep:
        clock = FakeClock(datetime.now(UTC))
        svc = Services(
            rep,
            clock,
            RecordingSpeaker(),
            KioskSettings("foyer"),
            DEMO_NODE,
            FACILITY_ID,
            DEMO_CREDENTIAL_KEY,
        )
        flow = WalkinFlow(svc, "demo.dropin")
        if not flow.view().slots:  # the last half hour of the day: book tomorrow's first
            clock.advance(3600)
            flow = WalkinFlow(svc, "demo.dropin")
        flow.pick(flow.view().slots[0].start)
        flow.next()
        flow.tap(card_digest(DEMO_CREDENTIAL_KEY, leader["card"]))
        assert flow.state is W.CONFIRM, flow.error
        flow.confirm()
        assert flow.state is W.DONE and flow.done is not None, flow.error
        walkin = flow.done.booking

        # Centrally: the booking the panel suggests.
        book = demo.hallvakt(*st["book"])
        assert book.returncode == 0, book.stderr
        booked = book.stdout.split()[1]

        def central_has_everything() -> bool:
            s = rep.state()
            if s.acked_through != s.last_seq:
                return False
            with closing(central(st)) as c:
                row = c.execute(
                    "SELECT through FROM event_streams WHERE node = ? AND epoch = ?",
                    [DEMO_NODE, str(s.epoch)],
                ).fetchone()
                count = c.execute(
                    "SELECT count(*) FROM events WHERE node = ? AND epoch = ?",
                    [DEMO_NODE, str(s.epoch)],
                ).fetchone()[0]
            return row is not None and row[0] == s.last_seq == count

        def kiosk_shows_it() -> bool:
            today = build_today(rep, DEMO_NODE, datetime.now(UTC))
            return any(e.booking == booked for e in today.row("gym").entries)

        wait_for(central_has_everything, "central to hold every event of the node", 30)
        wait_for(lambda: walkin_states(rep).get(walkin, ("",))[0] == "accepted", "verdict", 30)
        wait_for(kiosk_shows_it, "the central booking on the kiosk's Today view", 30)
        [entry] = [e for e in build_today(rep, DEMO_NODE, datetime.now(UTC)).row("gym").entries
                   if e.booking == booked]  # fmt: skip
        assert entry.label == "Kvällsträning (central)"

    with closing(central(st)) as c:
        rows = c.execute("SELECT type, body FROM events WHERE node = ?", [DEMO_NODE]).fetchall()
        central_booking = c.execute(
            "SELECT count(*) FROM bookings WHERE facility = ? AND id = ?", [FACILITY_ID, walkin]
        ).fetchone()[0]
    bodies = [(t, json.loads(b)) for t, b in rows]
    leader_digest = card_digest(DEMO_CREDENTIAL_KEY, leader["card"])
    assert any(
        t == "access.granted" and b.get("booking") == "b.demo.now" and b.get("reason") == "booking"
        for t, b in bodies
    ), bodies
    assert any(t == "access.denied" and b.get("reason") == "unknown_credential" for t, b in bodies)
    assert any(t == "walkin.created" and b["booking"]["id"] == walkin for t, b in bodies)
    assert leader_digest in json.dumps([b for t, b in bodies if t == "access.granted"])
    assert central_booking == 1  # the accepted walk-in is central's booking now

    # The day's report, with the command the panel prints: a PDF, and the same as CSV
    # shows the demo team's booking used (the leader's card opened the door).
    made = demo.hallvakt(*st["report"])
    assert made.returncode == 0, made.stderr
    args = list(st["report"])
    pdf = Path(args[args.index("--out") + 1])
    assert pdf.read_bytes().startswith(b"%PDF-")
    args[args.index("--format") + 1], args[args.index("--out") + 1] = "csv", "-"
    table = demo.hallvakt(*args)
    assert table.returncode == 0, table.stderr
    lines = [line.split(";") for line in table.stdout.lstrip("\ufeff").splitlines()]
    used = {r[3]: int(r[8]) for r in lines[1:] if r[0] == "resource"}
    assert used["demo.room"] > 0, lines[:12]

    # Central away: the door carries on, the event waits, and goes up once it is back.
    status = Path(st["node"]["database"]).parent / "run" / "sync-status.json"
    stop = demo.hallvakt("demo", "broker", "stop", "--dir", str(demo.root))
    assert stop.returncode == 0 and "broker stopped" in stop.stdout, stop
    wait_for(lambda: link_offline(status), "the link to notice", 30)
    tap = demo.hallvakt("tap", UNKNOWN_CARD, "--config", node_toml)
    assert tap.returncode == 3 and "DENIED (unknown_credential)" in tap.stdout, tap
    with Replica.open(st["node"]["database"]) as rep:
        assert backlog(rep) >= 1
    start = demo.hallvakt("demo", "broker", "start", "--dir", str(demo.root))
    assert start.returncode == 0 and "broker running again" in start.stdout, start
    watch = demo.hallvakt("status", "--watch", "--until-synced", "--config", node_toml, timeout=60)
    assert watch.returncode == 0 and "in step with central" in watch.stdout, watch
    assert "outbox: empty, central has every event" in watch.stdout

    stop_and_check(demo)


def link_offline(path: Path) -> bool:
    """The sync link's status file says it is not connected."""
    link = read_status_file(path)
    return link is not None and not link.connected


def test_offline_demo_runs_door_and_kiosk_without_central(offline_demo: DemoRun) -> None:
    st = offline_demo.state()
    assert st["ready"] and st["mode"] == "offline" and st["problems"] == [], offline_demo.output()
    assert set(st["processes"]) == {"door", "kiosk"} and st["broker"] is None
    assert "OFFLINE" in offline_demo.output() and "stale_replica" in offline_demo.output()
    leader = st["people"][0]
    tap = offline_demo.hallvakt(
        "tap", leader["card"], "--pin", leader["pin"], "--config", st["node"]["config"]
    )
    assert tap.returncode == 3 and "DENIED (stale_replica)" in tap.stdout, tap
    with Replica.open(st["node"]["database"]) as rep:
        assert rep.state().applied_rev > 0 and rep.state().head_seen_at is None
        today = build_today(rep, DEMO_NODE, datetime.now(UTC))
        assert today.health.level == "never"
    stop_and_check(offline_demo)


def test_progress_view_of_long_operations() -> None:
    """``hallvakt status --watch``'s core (hallvakt/progress.py): a snapshot
    download, catch-up and an outbox draining after days offline, from samples."""
    t0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def sample(t: float, **kw: Any) -> Sample:
        at = t0 + timedelta(seconds=t)
        connected = kw.pop("connected", True)
        base: dict[str, Any] = dict(applied_rev=5, head_rev=5, last_seq=0, acked_through=0)
        link = LinkStatus(connected, at, 2, 0, False)
        return Sample(t, at, link, **{**base, **kw}, head_seen_at=at)

    tr = Tracker()
    tr.update(sample(0, applied_rev=0, head_rev=9, staged=Staged(9, 1, 4)))
    p = tr.update(sample(2, applied_rev=0, head_rev=9, staged=Staged(9, 2, 4)))
    [bar] = p.bars
    assert (bar.label, bar.done, bar.total, bar.rate, bar.eta_s) == ("snapshot", 2, 4, 0.5, 4.0)
    assert "2/4 parts (rev 9, 0.5 parts/s, ~4 s left)" in "\n".join(render(p, 100))

    tr = Tracker()  # back after days offline: 40,000 events and 7 revisions behind
    p = tr.update(sample(0, connected=False, applied_rev=3, head_rev=3, last_seq=40_000))
    assert p.online is False and "OFFLINE" in p.link and not p.synced
    tr.update(sample(10, applied_rev=3, head_rev=10, last_seq=40_000))
    p = tr.update(sample(14, applied_rev=6, head_rev=10, last_seq=40_000, acked_through=1_000))
    catch, outbox = p.bars
    assert (catch.label, catch.done, catch.total, catch.rate) == ("catch-up", 3, 7, 0.75)
    assert (outbox.label, outbox.done, outbox.total) == ("outbox", 1000, 40_000)
    assert outbox.rate == pytest.approx(1000 / 14) and outbox.eta_s == pytest.approx(546)
    assert outbox.detail == "39000 waiting"
    lines = render(p, 72)
    assert all(len(line) <= 72 for line in lines) and lines[0].startswith("central link: connected")
    p = tr.update(sample(20, applied_rev=10, head_rev=10, last_seq=40_000, acked_through=40_000))
    assert p.bars == () and p.synced and render(p)[-1] == "in step with central"

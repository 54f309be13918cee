"""Progress of the node's long operations: ``hallvakt status --watch``.

What it shows, redrawn every half second: whether the link reaches central,
a snapshot being downloaded (parts staged of parts, PROTOCOL.md §6), the
replica catching up with central's head (revisions applied), and the outbox
draining after days offline (events acknowledged). Each long operation gets a
bar, a rate and an estimate of the time left once a rate is known.

Rules this module guarantees:
- It reads only the link's status file (``<database dir>/run/sync-status.json``,
  docs/sync.md) and the node database, in one read transaction per sample; it
  never writes and never touches the network, so it works while the daemons
  run and when they are down.
- The core is pure: ``Sample`` (what was read at one moment) goes into
  ``Tracker.update``, which keeps where each operation started and its recent
  rate, and gives a ``Progress``; ``render`` turns that into lines for a given
  width. Time is passed in. The loop (``run_watch``) is the I/O edge.
- A bar counts from where the operation stood when the watch first saw it
  (a backlog of 40,000 events drains from 0 % to 100 %), and starts again
  once the operation is done.
- On a terminal the block is redrawn in place; otherwise (a log, CI) it is
  printed again only when a count or a state changed, never more than once
  per ``QUIET_PRINT_S`` for counts alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from firmware_config.config import load_or_exit
from sync.protocol.timeutil import age_s, parse_instant
from sync.replica import Replica, StagedSnapshot, staged_snapshot

POLL_S = 0.5
RATE_WINDOW_S = 20.0  # rates are averaged over this much recent history
STATUS_STALE_S = 90.0  # the link rewrites its status file at least every minute
QUIET_PRINT_S = 5.0


# --- samples ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """The parts of ``sync-status.json`` the progress view uses."""

    connected: bool
    at: datetime | None  # when the link wrote it
    connects: int
    in_flight_events: int
    want_snapshot: bool

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LinkStatus:
        """Raises ``ValueError`` for a document that is not the link's status."""
        try:
            at = doc.get("at")
            when = None if at is None else parse_instant(str(at))
            return cls(
                bool(doc["connected"]),
                when,
                int(doc.get("connects", 0)),
                int(doc.get("in_flight", {}).get("events", 0)),
                bool(doc.get("want_snapshot", False)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a sync status document: {exc}") from None


# A snapshot being downloaded: ``have`` of ``parts`` parts of ``rev``.
Staged = StagedSnapshot


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at the node: monotonic and wall time, the link's status file
    (None: none yet) and the replica's counters."""

    mono: float
    wall: datetime
    link: LinkStatus | None
    applied_rev: int
    head_rev: int | None
    last_seq: int
    acked_through: int
    staged: Staged | None = None
    head_seen_at: datetime | None = None


def read_status_file(path: Path) -> LinkStatus | None:
    """The link's status, or None when the file is missing or unreadable
    (the link writes it atomically, so a half-written file is never seen)."""
    try:
        return LinkStatus.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def read_sample(rep: Replica, status_file: Path, mono: float, wall: datetime) -> Sample:
    """Read the status file and the replica once (one read transaction)."""
    link = read_status_file(status_file)
    with rep.read():
        st = rep.state()
        staged = staged_snapshot(rep)
    return Sample(
        mono,
        wall,
        link,
        st.applied_rev,
        st.head_rev,
        st.last_seq,
        st.acked_through,
        staged,
        st.head_seen_at,
    )


# --- the pure core -------------------------------------------------------------------


@dataclass(slots=True)
class Rate:
    """Units per second over the last ``window`` seconds of (time, count) points."""

    window: float = RATE_WINDOW_S
    points: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, t: float, value: int) -> None:
        if self.points and value < self.points[-1][1]:
            self.points.clear()  # a counter that went back: start again
        self.points.append((t, value))
        while len(self.points) > 2 and t - self.points[1][0] >= self.window:
            self.points.popleft()

    def per_second(self) -> float | None:
        """None until at least a second of history shows some movement."""
        if len(self.points) < 2:
            return None
        (t0, v0), (t1, v1) = self.points[0], self.points[-1]
        if t1 - t0 < 1.0 or v1 == v0:
            return None
        return (v1 - v0) / (t1 - t0)


@dataclass(frozen=True, slots=True)
class Bar:
    """One long operation: ``done`` of ``total`` ``unit``, and how fast."""

    label: str
    done: int
    total: int
    unit: str
    rate: float | None
    detail: str

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else max(0.0, min(1.0, self.done / self.total))

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate (None without a rate)."""
        if self.rate is None or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the view shows at one moment."""

    link: str  # one line about the connection to central
    online: bool | None  # None: no status from the link at all
    bars: tuple[Bar, ...]
    lines: tuple[str, ...]  # the steady state of what has no bar
    synced: bool  # connected, nothing staged, caught up, outbox empty

    def key(self) -> tuple[object, ...]:
        """What a change is: states and counts, not rates or ages."""
        return (self.online, self.synced, tuple((b.label, b.done, b.total) for b in self.bars))


class _Run:
    """Where one operation started (its 0 %) and its rate; reset when done."""

    def __init__(self) -> None:
        self.start: int | None = None
        self.rate = Rate()

    def track(self, t: float, done_value: int, busy: bool) -> int:
        """The starting value of the current run (``done_value`` if idle)."""
        if not busy:
            self.start, self.rate = None, Rate()
            return done_value
        if self.start is None or done_value < self.start:
            self.start = done_value
        self.rate.add(t, done_value)
        return self.start


class Tracker:
    """Turns successive samples into ``Progress`` (module rules)."""

    def __init__(self) -> None:
        self._catchup = _Run()
        self._outbox = _Run()
        self._snapshot = _Run()
        self._offline_since: datetime | None = None

    def update(self, s: Sample) -> Progress:
        link_line, online = self._link(s)
        bars: list[Bar] = []
        lines: list[str] = []
        staging = s.staged is not None and s.staged.have < s.staged.parts
        self._snapshot.track(s.mono, s.staged.have if s.staged else 0, staging)
        if s.staged is not None and staging:
            bars.append(
                Bar(
                    "snapshot",
                    s.staged.have,
                    s.staged.parts,
                    "parts",
                    self._snapshot.rate.per_second(),
                    f"rev {s.staged.rev}",
                )
            )
        elif s.link is not None and s.link.want_snapshot:
            lines.append("snapshot: asked central for one, no part received yet")
        head = s.head_rev
        behind = head is not None and head > s.applied_rev and not staging
        start = self._catchup.track(s.mono, s.applied_rev, behind)
        if behind:
            assert head is not None
            bars.append(
                Bar(
                    "catch-up",
                    s.applied_rev - start,
                    head - start,
                    "revisions",
                    self._catchup.rate.per_second(),
                    f"rev {s.applied_rev} of {head}",
                )
            )
        elif s.applied_rev == 0 and not staging:
            lines.append("data: none yet (waiting for central's snapshot)")
        else:
            heard = (
                ""
                if s.head_seen_at is None
                else f", head heard {_age(s.wall - s.head_seen_at)} ago"
            )
            lines.append(f"data: rev {s.applied_rev}, up to date with central's head{heard}")
        backlog = max(0, s.last_seq - s.acked_through)
        start = self._outbox.track(s.mono, s.acked_through, backlog > 0)
        if backlog:
            waiting = "waiting" if online is not False else "waiting for the link"
            bars.append(
                Bar(
                    "outbox",
                    s.acked_through - start,
                    s.last_seq - start,
                    "events",
                    self._outbox.rate.per_second(),
                    f"{backlog} {waiting}",
                )
            )
        else:
            lines.append(f"outbox: empty, central has every event (through seq {s.acked_through})")
        synced = bool(online) and not bars and s.applied_rev > 0
        return Progress(link_line, online, tuple(bars), tuple(lines), synced)

    def _link(self, s: Sample) -> tuple[str, bool | None]:
        if s.link is None:
            return "central link: no status yet (is `hallvakt sync` running?)", None
        age = None if s.link.at is None else (s.wall - s.link.at).total_seconds()
        if age is not None and age > STATUS_STALE_S:
            return (
                f"central link: no status for {_age_s(age)} (is `hallvakt sync` running?)",
                None,
            )
        if s.link.connected:
            self._offline_since = None
            return f"central link: connected ({s.link.connects} connects since start)", True
        if self._offline_since is None:
            self._offline_since = s.link.at or s.wall
        since = _age(s.wall - self._offline_since)
        return (
            f"central link: OFFLINE for {since};"
            " doors and kiosk carry on, events wait in the outbox",
            False,
        )


# --- rendering ---------------------------------------------------------------------


def _age_s(seconds: float) -> str:
    return age_s(max(0.0, seconds))  # a clock step back shows as 0 s, not a negative age


def _age(delta: Any) -> str:
    return _age_s(float(delta.total_seconds()))


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return ", <1 s left"
    return f", ~{_age_s(seconds)} left"


def bar_text(fraction: float, width: int) -> str:
    """``[#######-----]`` of ``width`` cells in all (ASCII: any terminal, any log)."""
    inner = max(1, width - 2)
    full = round(fraction * inner)
    return "[" + "#" * full + "-" * (inner - full) + "]"


def render(p: Progress, width: int = 80) -> list[str]:
    """The view as lines no longer than ``width`` (bars shrink to fit)."""
    out = [p.link]
    for b in p.bars:
        rate = "" if b.rate is None else f", {b.rate:.1f} {b.unit}/s"
        counts = f"{b.done}/{b.total} {b.unit}"
        tail = f" {b.fraction * 100:3.0f} %  {counts} ({b.detail}{rate}{_eta(b.eta_s)})"
        head = f"{b.label:<9}"
        cells = max(8, min(32, width - len(head) - len(tail) - 1))
        out.append(f"{head}{bar_text(b.fraction, cells)}{tail}")
    out.extend(p.lines)
    if p.synced:
        out.append("in step with central")
    return [line[:width] for line in out]


# --- the I/O edge ---------------------------------------------------------------------


class Screen:
    """Draws the block: in place on a terminal, else only when it changed."""

    def __init__(self, stream: TextIO, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self._drawn = 0
        self._key: tuple[object, ...] | None = None
        self._printed = float("-inf")

    def draw(self, p: Progress, lines: Sequence[str], mono: float) -> None:
        if self.tty:
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.stream.write(up + "\x1b[J" + "\n".join(lines) + "\n")
            self._drawn = len(lines)
        else:
            key = p.key()
            states = key[:2]
            changed_state = self._key is None or states != self._key[:2]
            if key == self._key or (not changed_state and mono - self._printed < QUIET_PRINT_S):
                return
            stamp = datetime.now().strftime("%H:%M:%S")
            self.stream.write("\n".join(f"{stamp} {line}" for line in lines) + "\n")
            self._key, self._printed = key, mono
        self.stream.flush()


def status_file(database: Path) -> Path:
    """The link's status file next to ``database`` (docs/sync.md)."""
    return database.parent / "run" / "sync-status.json"


def run_watch(args: argparse.Namespace) -> int:
    """``hallvakt status --watch [--until-synced] --config FILE``: until Ctrl-C,
    or with ``--until-synced`` until the node is in step with central (exit 0)."""
    cfg = load_or_exit(args.config)
    tracker = Tracker()
    screen = Screen(sys.stdout, sys.stdout.isatty())
    path = status_file(cfg.database)
    print(f"Hallvakt node {cfg.node_id}: progress (Ctrl-C to stop)", flush=True)
    try:
        with Replica.open(cfg.database, default_tz=cfg.timezone) as rep:
            while True:
                sample = read_sample(rep, path, time.monotonic(), datetime.now(UTC))
                p = tracker.update(sample)
                width = shutil.get_terminal_size((100, 24)).columns
                screen.draw(p, render(p, width), sample.mono)
                if p.synced and getattr(args, "until_synced", False):
                    return 0
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        return 0

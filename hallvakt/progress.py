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
- Time is passed in. ``Sample`` (what was read at one moment) goes into
  ``Tracker.update``, which gives a ``Progress``: rich's ``Progress`` keeps each
  operation as a task, clocked by the samples' monotonic times, and gives its
  rate (over the last ``RATE_WINDOW_S``) and time left. ``render`` turns a
  ``Progress`` into lines for a given width (rich's bars). The loop
  (``run_watch``) is the I/O edge.
- A bar counts from where the operation stood when the watch first saw it
  (a backlog of 40,000 events drains from 0 % to 100 %), and starts again
  once the operation is done. A rate shows after a second of history with
  some movement.
- On a terminal the view is redrawn in place (rich's ``Live``); otherwise (a
  log, CI) it is printed again only when a count or a state changed, never
  more than once per ``QUIET_PRINT_S`` for counts alone.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import Progress as RichProgress
from rich.progress import Task, TaskID
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from firmware_config.config import load_or_exit
from sync.protocol.timeutil import age_s, parse_instant
from sync.replica import Replica, StagedSnapshot, staged_snapshot

POLL_S = 0.5
RATE_WINDOW_S = 20.0  # rates are averaged over this much recent history
STATUS_STALE_S = 90.0  # the link rewrites its status file at least every minute
QUIET_PRINT_S = 5.0
LABEL_WIDTH = 9


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


# --- from samples to the view -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    """One long operation: ``done`` of ``total`` ``unit``, how fast (None: not
    known yet) and how long it has left at that rate (rich's estimate)."""

    label: str
    done: int
    total: int
    unit: str
    rate: float | None
    detail: str
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else max(0.0, min(1.0, self.done / self.total))


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


class _Operation:
    """One long operation as a task of rich's ``Progress``: its 0 % is where it
    stood when first seen (``relative``) or 0; every sample is a point of its
    rate; it is removed when done and starts afresh when its counter goes back."""

    def __init__(self, tasks: RichProgress, label: str, unit: str, *, relative: bool) -> None:
        self.tasks, self.label, self.unit, self.relative = tasks, label, unit, relative
        self.task: TaskID | None = None
        self.start = 0

    def track(self, value: int, target: int, detail: str) -> Bar:
        """The operation stands at ``value`` of ``target`` now (a sample's time)."""
        tasks = self.tasks
        if self.task is None or value < self.start:
            self.stop()
            self.start = value if self.relative else 0
            self.task = tasks.add_task(self.label, total=target - self.start, completed=0)
            tasks.advance(self.task, value - self.start)  # the first point of its rate
            task = self._task(self.task)
        else:
            task = self._task(self.task)
            done = value - self.start
            if done < task.completed:  # the counter went back: its history is void
                tasks.reset(self.task, total=target - self.start, completed=0)
            tasks.update(self.task, total=target - self.start)
            tasks.advance(self.task, done - task.completed)
        speed = task.speed if task.elapsed is not None and task.elapsed >= 1.0 else None
        rate = speed or None  # no movement: no rate
        eta = task.time_remaining if rate is not None else None
        return Bar(
            self.label, int(task.completed), int(task.total or 0), self.unit, rate, detail, eta
        )

    def _task(self, ident: TaskID) -> Task:
        return next(t for t in self.tasks.tasks if t.id == ident)

    def stop(self) -> None:
        if self.task is not None:
            self.tasks.remove_task(self.task)
            self.task = None


class Tracker:
    """Turns successive samples into ``Progress`` (module rules)."""

    def __init__(self) -> None:
        self._now = 0.0
        self.tasks = RichProgress(
            get_time=lambda: self._now, speed_estimate_period=RATE_WINDOW_S, auto_refresh=False
        )
        self._snapshot = _Operation(self.tasks, "snapshot", "parts", relative=False)
        self._catchup = _Operation(self.tasks, "catch-up", "revisions", relative=True)
        self._outbox = _Operation(self.tasks, "outbox", "events", relative=True)
        self._offline_since: datetime | None = None

    def update(self, s: Sample) -> Progress:
        self._now = s.mono
        link_line, online = self._link(s)
        bars: list[Bar] = []
        lines: list[str] = []
        staging = s.staged is not None and s.staged.have < s.staged.parts
        if s.staged is not None and staging:
            staged = s.staged
            bars.append(self._snapshot.track(staged.have, staged.parts, f"rev {staged.rev}"))
        else:
            self._snapshot.stop()
            if s.link is not None and s.link.want_snapshot:
                lines.append("snapshot: asked central for one, no part received yet")
        head = s.head_rev
        if head is not None and head > s.applied_rev and not staging:
            detail = f"rev {s.applied_rev} of {head}"
            bars.append(self._catchup.track(s.applied_rev, head, detail))
        else:
            self._catchup.stop()
            if s.applied_rev == 0 and not staging:
                lines.append("data: none yet (waiting for central's snapshot)")
            else:
                heard = (
                    ""
                    if s.head_seen_at is None
                    else f", head heard {_age(s.wall - s.head_seen_at)} ago"
                )
                lines.append(f"data: rev {s.applied_rev}, up to date with central's head{heard}")
        backlog = max(0, s.last_seq - s.acked_through)
        if backlog:
            waiting = "waiting" if online is not False else "waiting for the link"
            detail = f"{backlog} {waiting}"
            bars.append(self._outbox.track(s.acked_through, s.last_seq, detail))
        else:
            self._outbox.stop()
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


def _age(delta: timedelta) -> str:
    return _age_s(delta.total_seconds())


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return ", <1 s left"
    return f", ~{_age_s(seconds)} left"


def _tail(b: Bar) -> str:
    rate = "" if b.rate is None else f", {b.rate:.1f} {b.unit}/s"
    counts = f"{b.done}/{b.total} {b.unit}"
    return f"{b.fraction * 100:3.0f} %  {counts} ({b.detail}{rate}{_eta(b.eta_s)})"


def view(p: Progress, width: int, head: Sequence[str] = ()) -> Group:
    """The view as a rich renderable for ``width`` columns: ``head`` lines, the
    link, a row per bar (label, rich's bar of 8-32 cells, the numbers), the
    steady lines. No line is longer than ``width``."""

    def line(text: str) -> Text:
        return Text(text, no_wrap=True, overflow="crop")

    parts: list[Text | Table] = [line(t) for t in (*head, p.link)]
    if p.bars:
        tails = [_tail(b) for b in p.bars]
        cells = max(8, min(32, width - LABEL_WIDTH - max(map(len, tails)) - 2))
        table = Table.grid(padding=(0, 1))
        table.add_column(min_width=LABEL_WIDTH - 1, max_width=LABEL_WIDTH - 1, no_wrap=True)
        table.add_column(min_width=cells, max_width=cells)
        rest = max(1, width - LABEL_WIDTH - cells - 1)  # what is left is cropped, not wrapped
        table.add_column(max_width=rest, no_wrap=True, overflow="crop")
        for b, tail in zip(p.bars, tails, strict=True):
            bar = ProgressBar(total=max(b.total, 1), completed=b.done, width=cells)
            table.add_row(b.label, bar, tail)
        parts.append(table)
    parts.extend(line(t) for t in p.lines)
    if p.synced:
        parts.append(line("in step with central"))
    return Group(*parts)


def render(p: Progress, width: int = 80, head: Sequence[str] = ()) -> list[str]:
    """The view as plain lines no longer than ``width`` (bars shrink to fit)."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False)
    console.print(view(p, width, head))
    return [ln.rstrip() for ln in out.getvalue().splitlines()]


# --- the I/O edge ---------------------------------------------------------------------


class Screen:
    """Draws the view: redrawn in place by rich's ``Live`` on a terminal; else
    (a log, CI) printed, with the time, only when it changed (module rules)."""

    def __init__(self, stream: TextIO, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        # A log is as wide as a terminal would be (COLUMNS, else 100).
        width = None if tty else shutil.get_terminal_size((100, 24)).columns
        self.console = Console(file=stream, force_terminal=tty, width=width, highlight=False)
        self.live: Live | None = None
        self._key: tuple[object, ...] | None = None
        self._printed = float("-inf")

    def __enter__(self) -> Self:
        if self.tty:
            self.live = Live(console=self.console, auto_refresh=False, transient=False)
            self.live.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def draw(self, p: Progress, mono: float, head: Sequence[str] = ()) -> None:
        width = self.console.width
        if self.live is not None:
            self.live.update(view(p, width, head), refresh=True)
            return
        key = p.key()
        changed_state = self._key is None or key[:2] != self._key[:2]
        if key == self._key or (not changed_state and mono - self._printed < QUIET_PRINT_S):
            return
        stamp = datetime.now().strftime("%H:%M:%S")
        lines = render(p, width - len(stamp) - 1, head)
        self.stream.write("".join(f"{stamp} {line}\n" for line in lines))
        self.stream.flush()
        self._key, self._printed = key, mono


def status_file(database: Path) -> Path:
    """The link's status file next to ``database`` (docs/sync.md)."""
    return database.parent / "run" / "sync-status.json"


def run_watch(args: argparse.Namespace) -> int:
    """``hallvakt status --watch [--until-synced] --config FILE``: until Ctrl-C,
    or with ``--until-synced`` until the node is in step with central (exit 0)."""
    cfg = load_or_exit(args.config)
    tracker = Tracker()
    path = status_file(cfg.database)
    print(f"Hallvakt node {cfg.node_id}: progress (Ctrl-C to stop)", flush=True)
    try:
        with (
            Replica.open(cfg.database, default_tz=cfg.timezone) as rep,
            Screen(sys.stdout, sys.stdout.isatty()) as screen,
        ):
            while True:
                sample = read_sample(rep, path, time.monotonic(), datetime.now(UTC))
                p = tracker.update(sample)
                screen.draw(p, sample.mono)
                if p.synced and getattr(args, "until_synced", False):
                    return 0
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        return 0

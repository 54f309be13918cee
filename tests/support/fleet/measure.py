"""What ``bench/fleet.py`` measures besides the nodes: CPU, the store's commits, the logs.

- ``Cpu``: CPU seconds of named processes between ``start()`` and ``stop()``,
  and the whole machine's (``/proc/stat``: busy, of which this run's
  processes, and the time the cores waited on the disk, ``iowait``).
- ``StoreStats``: the store's waits on the disk between two readings: WAL
  flushes (``pg_stat_wal.wal_sync``; a committing transaction waits for
  one, several commits arriving together share one) and the time they took
  (``wal_sync_time``, with ``track_wal_io_timing`` on). PostgreSQL publishes
  these from a busy backend about once a second and from an idle one within
  10 s (``PGSTAT_IDLE_INTERVAL``): ``settled()`` waits that long first.
- ``ticks(log, since)``: the gateway log's fan-out lines (sync/central/link.py:
  "tick: N messages decided in X s, handed to the broker in Y s") after
  ``since``, with the wall time each tick began.
- ``handled(log)``: what a gateway's last run handled, from its stop line
  (sync/central/link.py: "stopping: N messages received in T store
  transactions in all (events E, status S, hello H, cursor C)").
- ``percentile(values, p)``: nearest-rank percentile.
- ``limit(cpu, flush_ms, wall)``: which resource ran out in a phase: the
  machine's CPU (its cores at least 95% busy, whoever's work it was), the
  store's disk (WAL flushes took at least half the wall time), or neither.
- ``held_limit(cpu, cores, throttling, flush_ms, wall)``: the same with each
  gateway held to ``cores`` of a core (tests/support/fleet/cgroup.py): the
  gateways' quota when every gateway used at least 85% of it and was
  throttled in at least half of its periods (it ran out of its quota with
  work waiting, so neither a busy core, the store nor the nodes held it
  back; a gateway kept from its quota by a full machine uses less);
  otherwise as ``limit``. With the facts: each gateway's CPU and
  throttling, the machine's busy and idle shares, PostgreSQL's CPU and WAL
  flushing.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sync.central.store import Store

from .cgroup import Throttling
from .processes import cpu_seconds

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered) / 100) - 1)]


def machine_jiffies() -> tuple[int, int, int]:
    """(busy, iowait, total) jiffies of all cores since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, iowait, busy + idle + iowait


class Cpu:
    """CPU of named processes and of the machine between ``start`` and ``stop``."""

    def __init__(self, pids: Callable[[], dict[str, list[int]]]) -> None:
        self.pids = pids
        self.t0 = 0.0
        self.base: dict[tuple[str, int], float] = {}
        self.machine0 = (0, 0, 0)
        self.used: dict[str, float] = {}  # per name, in cores (1.0 = one core busy)
        self.cores = os.cpu_count() or 1
        self.busy = 0.0  # the machine's busy share of all its cores (0..1), last stop()
        self.iowait = 0.0

    def _now(self) -> dict[tuple[str, int], float]:
        return {(name, p): cpu_seconds(p) for name, ps in self.pids().items() for p in ps}

    def start(self) -> None:
        self.t0, self.base, self.machine0 = time.monotonic(), self._now(), machine_jiffies()

    def stop(self) -> str:
        """Per name: CPU used since ``start`` (a process started meanwhile counts
        whole); then the machine: busy, of which this run, and iowait."""
        wall = time.monotonic() - self.t0
        used: dict[str, float] = {}
        for (name, pid), t in self._now().items():
            used[name] = used.get(name, 0.0) + t - self.base.get((name, pid), 0.0)
        self.used = {n: u / wall for n, u in used.items()}
        busy, iowait, total = (b - a for a, b in zip(self.machine0, machine_jiffies(), strict=True))
        self.busy, self.iowait = busy / max(1, total), iowait / max(1, total)
        ours = sum(used.values()) * CLK_TCK
        share = 100 * self.cores / max(1, total)  # percent of one core per jiffy
        parts = [f"{n} {100 * u:.0f}%" for n, u in self.used.items()]
        return (
            "CPU (100% = one core): "
            + ", ".join(parts)
            + f"; the machine's {self.cores} cores: {busy * share:.0f}% busy"
            f" (others' work {max(0.0, busy - ours) * share:.0f}%), iowait {iowait * share:.0f}%"
        )


@dataclass(frozen=True, slots=True)
class StoreReading:
    wal_syncs: int
    sync_ms: float


class StoreStats:
    """PostgreSQL's WAL counters (module docstring)."""

    SETTLE_S = 11.0  # PostgreSQL 15 flushes an idle backend's statistics within 10 s

    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self) -> StoreReading:
        row = self.store.execute("SELECT wal_sync, wal_sync_time FROM pg_stat_wal").rows[0]
        return StoreReading(int(row[0] or 0), float(row[1] or 0.0))

    async def settled(self) -> StoreReading:
        """A reading once every backend published its statistics."""
        await asyncio.sleep(self.SETTLE_S)
        return self.read()

    @staticmethod
    def since(a: StoreReading, b: StoreReading, wall: float) -> str:
        """The flushes between two readings, over ``wall`` seconds of work."""
        n, ms = b.wal_syncs - a.wal_syncs, b.sync_ms - a.sync_ms
        each = f", {ms / n:.1f} ms each" if n else ""
        return f"store: {n} WAL flushes ({n / max(1e-9, wall):.0f}/s{each})"

    def wal_lsn(self) -> str:
        return str(self.store.execute("SELECT pg_current_wal_lsn()::text").scalar())


_TICK = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ INFO tick: (\d+) messages decided in"
    r" ([\d.]+) s, handed to the broker in ([\d.]+) s",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Tick:
    began: float  # wall time (Unix seconds)
    messages: int
    decided_s: float
    handed_s: float


def ticks(log: str, since: float) -> list[Tick]:
    """The fan-out ticks a gateway logged after wall time ``since`` (module docstring)."""
    out = []
    for stamp, n, decided, handed in _TICK.findall(log):
        logged = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time
        began = logged - float(decided) - float(handed)
        if began >= since - 1.0:
            out.append(Tick(began, int(n), float(decided), float(handed)))
    return out


_STOP = re.compile(
    r"stopping: (\d+) messages received in (\d+) store transactions in all \(([^)]*)\)"
)


def handled(log: str) -> str:
    """What the gateway's last run handled (module docstring), as one phrase."""
    runs = _STOP.findall(log)
    if not runs:
        return "(no stop line: killed after 10 s of SIGTERM, or still running)"
    n, batches, kinds = runs[-1]
    return f"{kinds}: {n} messages in {batches} transactions"


def _ran_out(cpu: Cpu, disk: float) -> str | None:
    """The machine's resource that ran out (module docstring), if one did;
    ``disk`` is the share of the wall time the store spent flushing its WAL."""
    if cpu.busy >= 0.95:
        return "the machine's CPU"
    if disk >= 0.5:
        return "the store's disk"
    return None


def limit(cpu: Cpu, flush_ms: float, wall: float) -> str:
    """Which resource ran out between ``cpu.start()`` and ``cpu.stop()`` (module
    docstring); ``flush_ms`` is the store's WAL flush time over ``wall`` s."""
    disk = flush_ms / 1000 / max(1e-9, wall)
    facts = (
        f"cores {100 * cpu.busy:.0f}% busy, iowait {100 * cpu.iowait:.0f}%,"
        f" WAL flushing {100 * disk:.0f}% of the time"
    )
    ran_out = _ran_out(cpu, disk) or "neither CPU nor the store's disk"
    return f"limit: {ran_out} ({facts})"


def held_limit(
    cpu: Cpu, cores: float, throttling: dict[str, Throttling], flush_ms: float, wall: float
) -> tuple[bool, str]:
    """(whether the gateways' quota was the limit, the verdict with its facts):
    module docstring. ``throttling`` is keyed by the gateways' names in ``cpu``."""
    disk = flush_ms / 1000 / max(1e-9, wall)
    each = [
        f"{name} {100 * cpu.used.get(name, 0.0):.1f}% of a core (quota {100 * cores:g}%),"
        f" throttled in {t.throttled} of {t.periods} periods ({100 * t.share:.0f}%),"
        f" held back {t.throttled_s:.1f} s"
        for name, t in throttling.items()
    ]
    held = bool(throttling) and all(
        cpu.used.get(name, 0.0) >= 0.85 * cores and t.share >= 0.5 for name, t in throttling.items()
    )
    idle = max(0.0, 1 - cpu.busy - cpu.iowait)
    facts = "; ".join(
        [
            *each,
            f"cores {100 * cpu.busy:.0f}% busy, {100 * idle:.0f}% idle",
            f"store: postgres {100 * cpu.used.get('postgres', 0.0):.0f}% of a core,"
            f" WAL flushing {100 * disk:.0f}% of the time",
        ]
    )
    if held:  # each ran out of its quota with work waiting: not held by a busy core
        return True, f"limit: the gateways' CPU quota ({facts})"
    other = _ran_out(cpu, disk) or "neither the gateways' quota, the CPU nor the store's disk"
    return False, f"limit: {other} ({facts})"

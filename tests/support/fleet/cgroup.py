"""A fixed CPU share for a process, as a container's CPU limit or systemd's ``CPUQuota=`` gives one.

``bench/fleet.py`` holds each gateway to the same share, so that with 1 and
with 2 gateways the gateways are the limit by construction and the ratio
says whether the design scales, not whether the machine had cores to spare.
It uses the cgroup v1 ``cpu`` controller (CFS bandwidth control): a child
group with ``cpu.cfs_quota_us`` of CPU time every ``cpu.cfs_period_us``.

- ``unavailable(root)``: why no quota can be set here (a sentence), or None:
  not root and the hierarchy not writable, no cgroup v1 ``cpu`` controller
  at ``root`` (a cgroup v2-only machine), or making a group there fails.
- ``CpuQuota(name, cores)``: the group ``root/name`` with ``cores`` of CPU
  (0.25 = a quarter of one core) every ``period_us``; ``add(pid)`` moves a
  process, all its threads, into it (its children inherit it); ``stat()``
  reads the group's throttling counters (``Throttling``: periods in which
  it ran, periods in which it was throttled, the time it was held);
  ``close()`` moves whatever still runs in it back to the parent group and
  removes the group. It is a context manager: the group is removed on the
  way out, also on an exception or KeyboardInterrupt. Bad input (a
  non-positive share, a share below the kernel's 1 ms a period, a name that
  is not one path component) raises ValueError before anything is made.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ROOT = Path("/sys/fs/cgroup/cpu")
MIN_QUOTA_US = 1000  # the kernel refuses a smaller cfs_quota_us


def unavailable(root: Path = ROOT) -> str | None:
    """Why no CPU quota can be set under ``root`` here, or None (module docstring)."""
    if not (root / "cpu.cfs_quota_us").exists():
        return f"no cgroup v1 cpu controller at {root} (a cgroup v2-only machine, or none mounted)"
    if not os.access(root, os.W_OK):
        return f"{root} is not writable by uid {os.geteuid()} (root is needed)"
    probe = root / f"hallvakt-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        return f"cannot make a group under {root}: {exc.strerror or exc}"
    return None


@dataclass(frozen=True, slots=True)
class Throttling:
    """A group's ``cpu.stat`` counters (or the difference of two readings)."""

    periods: int  # periods in which something in the group was runnable
    throttled: int  # of them, periods in which the group used up its quota and waited
    throttled_s: float  # the time it was held

    def __sub__(self, other: Throttling) -> Throttling:
        return Throttling(
            self.periods - other.periods,
            self.throttled - other.throttled,
            self.throttled_s - other.throttled_s,
        )

    @property
    def share(self) -> float:
        """The share of its periods in which the group was throttled (0..1)."""
        return self.throttled / self.periods if self.periods else 0.0


class CpuQuota:
    """A cgroup holding its processes to ``cores`` of CPU (module docstring)."""

    def __init__(
        self, name: str, cores: float, *, period_us: int = 100_000, root: Path = ROOT
    ) -> None:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"a group's name is one path component, not {name!r}")
        if not cores > 0:
            raise ValueError(f"a CPU share must be positive, not {cores!r}")
        quota_us = round(cores * period_us)
        if quota_us < MIN_QUOTA_US or period_us < MIN_QUOTA_US:
            raise ValueError(
                f"{cores} cores of a {period_us} µs period is {quota_us} µs:"
                f" the kernel needs at least {MIN_QUOTA_US} µs"
            )
        self.cores, self.period_us, self.quota_us = cores, period_us, quota_us
        self.root, self.path = root, root / name
        self.made = False

    def __enter__(self) -> CpuQuota:
        self.path.mkdir()
        self.made = True
        try:
            (self.path / "cpu.cfs_period_us").write_text(str(self.period_us))
            (self.path / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]

    def stat(self) -> Throttling:
        fields = dict(
            line.split() for line in (self.path / "cpu.stat").read_text().splitlines() if line
        )
        return Throttling(
            int(fields["nr_periods"]),
            int(fields["nr_throttled"]),
            int(fields["throttled_time"]) / 1e9,
        )

    def close(self) -> None:
        """Move what still runs in the group back to the parent and remove the
        group. Idempotent; a process exiting meanwhile is no error."""
        if not self.made:
            return
        deadline = time.monotonic() + 5.0
        while True:
            try:
                for pid in self.pids():
                    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                        (self.root / "cgroup.procs").write_text(str(pid))
                self.path.rmdir()
                break
            except FileNotFoundError:
                break  # already gone
            except OSError as exc:  # EBUSY: a process still leaving (exiting, or just forked)
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.made = False

"""A CPU quota on a real process (tests/support/fleet/cgroup.py), as bench/fleet.py sets one.

- a busy child under a tenth of a core is throttled: the group's counters
  say so, and the child got no more than its share of the wall time, while
  the same child without a quota, run just before, got far more;
- the group is removed on the way out, also on KeyboardInterrupt with the
  child still running in it (the child goes back to the parent group and
  lives on);
- the verdict a held round prints (``held_limit``) names the gateways' quota
  only when every gateway used it up, throttled in most of its periods;
  otherwise the machine, the store's disk or neither;
- bad input is refused before anything is made; a directory that is no
  cgroup, and a user who is not root, are told why no quota can be set.

The throttling, removal and non-root tests need a writable cgroup v1 cpu
controller (root, /sys/fs/cgroup/cpu) and are skipped, with the reason,
where there is none. About 3-4 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fleet.cgroup import ROOT, CpuQuota, Throttling, unavailable
from tests.support.fleet.measure import Cpu, held_limit
from tests.support.fleet.processes import cpu_seconds

WHY = unavailable()
needs_cgroup = pytest.mark.skipif(
    WHY is not None, reason=f"no writable cgroup v1 cpu controller here: {WHY}"
)
BUSY = "while True: pass"


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        yield child
    finally:
        child.kill()
        child.wait(10)


def share(pid: int, seconds: float) -> float:
    """The CPU ``pid`` used over the next ``seconds`` of wall time, in cores."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


@needs_cgroup
def test_a_busy_child_under_a_tenth_of_a_core_is_throttled_and_the_group_removed(
    busy: subprocess.Popen[bytes],
) -> None:
    free = share(busy.pid, 0.8)  # the same loop without a quota: the baseline
    name = f"hallvakt-test-{busy.pid}"
    with CpuQuota(name, 0.1) as q:
        assert (ROOT / name / "cpu.cfs_quota_us").read_text().strip() == "10000"
        q.add(busy.pid)
        assert q.pids() == [busy.pid]
        s0 = q.stat()
        held = share(busy.pid, 1.5)
        d = q.stat() - s0
    assert not (ROOT / name).exists()
    assert busy.poll() is None  # moved back to the parent group, still running
    assert str(busy.pid) in (ROOT / "cgroup.procs").read_text().split()
    # the clock ticks 100 times a second: 0.1 core over 1.5 s is 15 ticks, +-2
    assert held <= 0.1 + 0.03, (held, free)
    assert free >= 3 * held, (held, free)
    assert d.periods >= 10 and d.share >= 0.8, d
    assert d.throttled_s >= 0.5, d  # held back ~90 ms of every 100 ms period


@needs_cgroup
def test_the_group_is_removed_on_keyboard_interrupt_with_the_child_inside(
    busy: subprocess.Popen[bytes],
) -> None:
    name = f"hallvakt-test-int-{busy.pid}"
    with pytest.raises(KeyboardInterrupt), CpuQuota(name, 0.5) as q:
        q.add(busy.pid)
        raise KeyboardInterrupt
    assert not (ROOT / name).exists()
    assert busy.poll() is None
    q.close()  # idempotent


@needs_cgroup
def test_a_process_that_is_gone_cannot_be_added() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    with CpuQuota(f"hallvakt-test-gone-{gone.pid}", 0.5) as q, pytest.raises(ProcessLookupError):
        q.add(gone.pid)
    assert not q.path.exists()


@pytest.mark.parametrize(
    ("name", "cores"),
    [("ok", 0.0), ("ok", -1.0), ("ok", float("nan")), ("ok", 0.005), ("a/b", 0.5), ("..", 0.5)],
)
def test_bad_input_is_refused_before_anything_is_made(
    name: str, cores: float, tmp_path: Path
) -> None:
    with pytest.raises(ValueError):
        CpuQuota(name, cores, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_is_no_cgroup_is_named_as_the_reason(tmp_path: Path) -> None:
    why = unavailable(tmp_path)
    assert why is not None and str(tmp_path) in why and "cgroup v1 cpu controller" in why


def verdict_of(
    used: dict[str, float], busy: float, shares: list[float], flush_ms: float = 0.0
) -> tuple[bool, str]:
    """``held_limit`` on a round of 10 s where gateway i was throttled in
    ``shares[i]`` of its 100 periods, each gateway held to 0.1 of a core."""
    cpu = Cpu(dict)
    cpu.used, cpu.busy, cpu.iowait = used, busy, 0.0
    throttling = {
        f"gateway {i + 1}": Throttling(100, round(100 * s), 9.0 * s) for i, s in enumerate(shares)
    }
    return held_limit(cpu, 0.1, throttling, flush_ms, 10.0)


def test_the_verdict_names_the_quota_only_when_every_gateway_used_it_up() -> None:
    full = {"gateway 1": 0.098, "gateway 2": 0.095, "postgres": 0.3}
    bound, text = verdict_of(full, 0.7, [0.9, 0.8])
    assert bound and text.startswith("limit: the gateways' CPU quota (")
    assert "gateway 2 9.5% of a core (quota 10%), throttled in 80 of 100 periods (80%)" in text
    assert "30% idle" in text and "postgres 30% of a core" in text
    # the machine full too, but each gateway got its quota and ran out of it
    assert verdict_of(full, 0.97, [0.9, 0.8])[0]
    # the machine full and a gateway short of its quota: it waited for a core
    bound, text = verdict_of({**full, "gateway 2": 0.07}, 0.97, [0.9, 0.8])
    assert not bound and text.startswith("limit: the machine's CPU (")
    # one gateway rarely throttled: it waited on something else (the store, the broker)
    assert not verdict_of(full, 0.7, [0.9, 0.2])[0]
    # one gateway under its quota although throttled (it did not get a core when it could run)
    assert not verdict_of({**full, "gateway 2": 0.07}, 0.7, [0.9, 0.9])[0]
    # the store's disk flushing more than half the time
    slow = verdict_of({"gateway 1": 0.05}, 0.5, [0.1], flush_ms=6000.0)
    assert slow[1].startswith("limit: the store's disk (")
    assert not verdict_of({}, 0.5, [])[0]  # no gateway: no quota to be the limit


@needs_cgroup
def test_a_user_who_is_not_root_is_told_why_no_quota_can_be_set() -> None:
    setpriv = shutil.which("setpriv")  # util-linux, on every Debian
    assert setpriv is not None
    code = "from tests.support.fleet.cgroup import unavailable; print(unavailable())"
    done = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=30,
        check=True,
    )
    assert done.stdout.strip() == f"{ROOT} is not writable by uid 65534 (root is needed)"

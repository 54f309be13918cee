"""Smoke test of ``bench/door.py --quick``: it runs the whole tap-to-relay rig
(door daemon with its recorder, OSDP over ptys, relay board, bare libosdp
baseline, the write lock held by another connection) at a small scale and
prints its ratio lines and every goal of issue 11 §7. The figures themselves
are not checked (they depend on the machine; docs/benchmarks.md has the full
runs), but the exit status is: 1 exactly when a goal was MISSED."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATIO = r"ratio median (\d+\.\d+)x, ratio p99 (\d+\.\d+)x$"
GOALS = [
    r"decision p99 < 1 ms",
    r"decision <= 3x the bare query at the median \(\d+\.\d+x\)",
    r"decision <= 3x the bare query at p99 \(\d+\.\d+x\)",
    r"tap-to-relay within 1\.5x of bare delivery \(median and p99\)",
    r"PIN-to-relay within 1\.5x of bare delivery \(median and p99\)",
    r"locked within 1\.5x of bare delivery \(median and p99\)",
    r"the door's records journalled while the lock was held",
    r"the engine's own share p99 < 1 ms",
]


def test_quick_bench_prints_every_goal_and_fails_on_a_miss() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "door.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = run.stdout
    assert run.returncode == (1 if "MISSED" in out else 0), run.stderr[-4000:] + out[-2000:]
    for what in ("tap-to-relay", "PIN-to-relay", "locked", "decision"):
        match = re.search(rf"^{what} {RATIO}", out, re.MULTILINE)
        assert match, f"no {what} ratio line in:\n{out}"
        assert all(float(x) > 0 for x in match.groups())
    for goal in GOALS:
        assert re.search(rf"^goal {goal}: (met|MISSED)$", out, re.MULTILINE), goal
    agreement = re.search(r"^agreement on 'opens the door now': (\d+)/(\d+)$", out, re.MULTILINE)
    assert agreement and agreement.group(1) == agreement.group(2)
    missed = out.count(": MISSED")
    assert re.search(rf"^{missed} goal\(s\) missed", out, re.MULTILINE)

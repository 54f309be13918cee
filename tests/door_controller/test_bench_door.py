"""Smoke test of ``bench/door.py --quick``: it runs the whole tap-to-relay rig
(door daemon, OSDP over ptys, relay board, bare libosdp baseline) at a small
scale and prints its ratio lines. The figures themselves are not checked: they
depend on the machine (docs/benchmarks.md has the full runs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATIO = r"ratio median (\d+\.\d+)x, ratio p99 (\d+\.\d+)x$"


def test_quick_bench_prints_its_ratio_lines() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "door.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    out = run.stdout
    for what in ("tap-to-relay", "PIN-to-relay", "decision"):
        match = re.search(rf"^{what} {RATIO}", out, re.MULTILINE)
        assert match, f"no {what} ratio line in:\n{out}"
        assert all(float(x) > 0 for x in match.groups())
    assert re.search(r"^goal within 1\.5x of bare delivery .*: (met|MISSED)$", out, re.MULTILINE)
    assert re.search(r"^goal decision p99 < 1 ms: (met|MISSED)$", out, re.MULTILINE)
    agreement = re.search(r"^agreement on 'opens the door now': (\d+)/(\d+)$", out, re.MULTILINE)
    assert agreement and agreement.group(1) == agreement.group(2)

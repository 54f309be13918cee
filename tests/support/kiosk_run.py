"""The real kiosk, offscreen, in a process of its own on a node database
(tests/kiosk/kivy_driver.py): for system tests with central and the link."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hallvakt.demo.data import DEMO_CREDENTIAL_KEY

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "kiosk" / "kivy_driver.py"


def run_kiosk(
    tmp_path: Path, db: Path, steps: list[list[Any]], *, node: str, facility: str, **spec: Any
) -> dict[str, Any]:
    """Play ``steps`` on kiosk ``foyer`` at the wall clock's now; the driver's
    result (asserted to have exited 0 with no errors). ``spec``: more of the
    driver's scenario keys (``report_corrupt``)."""
    out = Path(os.environ.get("HALLVAKT_ARTIFACTS", ROOT / ".artifacts")) / "kiosk"
    out.mkdir(parents=True, exist_ok=True)
    scenario = {
        "db": str(db),
        "now": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "kiosk": "foyer",
        "node": node,
        "facility": facility,
        "key": DEMO_CREDENTIAL_KEY.hex(),
        "artifacts": str(out),
        "result": str(tmp_path / "kiosk-result.json"),
        "combos": [["sv", False]],
        "steps": steps,
        **spec,
    }
    (tmp_path / "kiosk-spec.json").write_text(json.dumps(scenario))
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(KIVY_HOME=str(tmp_path / "kivy"), KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1")
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(tmp_path / "kiosk-spec.json")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads((tmp_path / "kiosk-result.json").read_text())
    assert result["errors"] == [], result["errors"]
    result["stderr"] = proc.stderr
    return result


def texts(result: dict[str, Any], name: str) -> list[str]:
    """The texts on screen at the driver's ``measure`` step ``name``."""
    return [w["text"] for w in result["measures"][name]["widgets"]]

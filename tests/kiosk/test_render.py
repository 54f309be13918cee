"""The kiosk really rendered: Kivy's offscreen SDL window through Mesa EGL, in
a child process (tests/kiosk/kivy_driver.py), against a real node database
holding the demo facility.

- Every screen in Swedish and English, normal and high contrast, saved as PNG
  to ``.artifacts/kiosk/`` (or ``$HALLVAKT_ARTIFACTS``); every button at least
  9 mm in both directions.
- The whole walk-in flow by simulated touches and a card tapped on the
  kiosk's reader; the walk-in is then found in the outbox with its door code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hallvakt.demo.data import (
    DEMO_CREDENTIAL_KEY,
    DEMO_NODE,
    FACILITY_ID,
    demo_credentials,
    generate,
    load_into,
)
from sync.replica import (
    Credential,
    Replica,
    append_event,
    card_digest,
    credentials_by_digest,
    pending_events,
    set_door_state,
    set_reader_state,
)

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("kivy_driver.py")
DAY = date(2026, 11, 24)  # a Tuesday
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 11:00 in Malmö
SCREENS = ("today", "walkin-choose", "walkin-identify", "walkin-confirm", "walkin-done",
           "caretaker", "leader", "notice")  # fmt: skip


def artifacts() -> Path:
    path = Path(os.environ.get("HALLVAKT_ARTIFACTS", ROOT / ".artifacts")) / "kiosk"
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_db(path: Path) -> dict[str, str]:
    """The demo facility at rev 1, fresh, with door and reader states; returns
    the digests of a leader's and the caretaker's cards."""
    entities = generate(seed=1, today=DAY)
    with Replica.open(path) as rep:
        load_into(rep, entities, rev=1, now=NOW)
        rep.record_head(1, 1, NOW)
        set_door_state(rep, "door.main", "locked", NOW)
        set_door_state(rep, "door.gym", "held_open", NOW)
        set_reader_state(rep, "main-in", True, "", NOW)
        set_reader_state(rep, "gym-in", False, "no answer", NOW)
        append_event(rep, "reader.offline", {"reader": "gym-in"}, NOW)
    people = demo_credentials(entities, seed=1, today=DAY)
    cards = {}
    for label, what in people.items():
        card = re.match(r"card (\S+)", what)
        assert card is not None
        cards["leader" if label.startswith("leader") else label] = card_digest(
            DEMO_CREDENTIAL_KEY, card.group(1)
        )
    return cards


def drive(tmp_path: Path, db: Path, steps: list[list[Any]]) -> dict[str, Any]:
    spec = {
        "db": str(db),
        "now": NOW.isoformat(),
        "kiosk": "foyer",
        "node": DEMO_NODE,
        "facility": FACILITY_ID,
        "key": DEMO_CREDENTIAL_KEY.hex(),
        "artifacts": str(artifacts()),
        "result": str(tmp_path / "result.json"),
        "steps": steps,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(KIVY_HOME=str(tmp_path / "kivy"), KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1")
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(tmp_path / "spec.json")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads((tmp_path / "result.json").read_text())
    assert result["errors"] == [], result["errors"]
    return result


def test_every_screen_rendered_in_both_languages_and_themes(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    cards = demo_db(db)
    result = drive(tmp_path, db, [
        ["shot", "today"],
        ["touch", "slot:hall.b:13:00"],
        ["shot", "walkin-choose"],
        ["touch", "next"],
        ["shot", "walkin-identify"],
        ["tap", cards["leader"]],
        ["shot", "walkin-confirm"],
        ["touch", "confirm"],
        ["shot", "walkin-done"],
        ["touch", "done"],
        ["tap", cards["caretaker"]],
        ["shot", "caretaker"],
        ["touch", "done"],
        ["tap", cards["leader"]],
        ["shot", "leader"],
        ["touch", "done"],
        ["tap", "A" * 43],
        ["shot", "notice"],
        ["touch", "ok"],
        ["check"],
    ])  # fmt: skip
    names = {Path(p).name for p in result["shots"]}
    assert names == {
        f"{s}-{lang}-{c}.png" for s in SCREENS for lang in ("sv", "en") for c in ("normal", "high")
    }
    for p in result["shots"]:
        data = Path(p).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert result["small"] == []  # every touch target is at least 9 mm
    assert result["final"] == "today"
    assert any("Dagens" in s or "I dag" in s for s in result["said"])


def test_walkin_by_touch_lands_in_the_outbox(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    cards = demo_db(db)
    result = drive(tmp_path, db, [
        ["touch", "slot:hall.a:14:00"],
        ["touch", "length:2"],
        ["touch", "next"],
        ["tap", cards["leader"]],
        ["touch", "confirm"],
        ["check"],
    ])  # fmt: skip
    assert result["screens"] == ["walkin"]
    with Replica.open(db) as rep:
        [event] = [e for e in pending_events(rep) if e.type == "walkin.created"]
        booking = event.body["booking"]
        assert booking["resources"] == ["hall.a"] and booking["node"] == DEMO_NODE
        assert (booking["start"], booking["end"]) == (
            "2026-11-24T13:00:00Z",
            "2026-11-24T15:00:00Z",
        )
        [cred] = [c for c in rep.all(Credential) if c.booking == booking["id"]]
        assert cred.kind == "code" and credentials_by_digest(rep, cred.digest) == [cred]
        said = " ".join(result["said"])
        assert "Bokat" in said
    assert re.findall(r"\b\d{6}\b", said) == []  # the code was never spoken

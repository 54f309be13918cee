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

import pytest

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
READERS = {"main-in": ["door.main", "in", None], "gym-in": ["door.gym", "in", None]}


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


def drive(tmp_path: Path, db: Path, steps: list[list[Any]], **extra: Any) -> dict[str, Any]:
    spec = {
        **extra,
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
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=240,
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
        ["touch", "window:hall.b:11:00"],
        ["touch", "start:13:00"],
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
    ], combos=[["sv", False], ["en", True]])  # fmt: skip
    names = {Path(p).name for p in result["shots"]}
    assert names == {f"{s}-{c}.png" for s in SCREENS for c in ("sv-normal", "en-high")}
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
        ["touch", "window:hall.a:11:00"],
        ["touch", "start:14:00"],
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


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
def test_drawing_only_what_changed_gives_the_whole_picture(
    tmp_path: Path, orientation: str
) -> None:
    """After every kind of change (the minute, new words, a new screen or step,
    focus, contrast, text size, a scroll view), the window drawn a changed part
    at a time is pixel for pixel the window drawn whole."""
    db = tmp_path / "node.db"
    cards = demo_db(db)
    steps: list[list[Any]] = [["verify", "today"]]
    for name, step in [
        ("minute", ["advance", 60]),
        ("minutes", ["advance", 120]),
        ("walkin-open", ["touch", "window:hall.b:11:00"]),
        ("walkin-pick", ["touch", "start:14:00"]),
        ("walkin-length", ["touch", "length:2"]),
        ("walkin-focus", ["key", 9]),
        ("walkin-focus-next", ["key", 9]),
        ("walkin-next", ["touch", "next"]),
        ("walkin-digit", ["touch", "key:0"]),
        ("walkin-erase", ["touch", "erase"]),
        ("walkin-contrast", ["touch", "contrast"]),
        ("walkin-back", ["touch", "back"]),
        ("walkin-textsize", ["touch", "textsize"]),
        ("walkin-cancel", ["touch", "cancel"]),
        ("caretaker", ["tap", cards["caretaker"]]),
        ("caretaker-secs", ["touch", "secs:60"]),
        ("caretaker-ask", ["touch", "lockdown"]),
        ("caretaker-no", ["touch", "lockdown-no"]),
        ("caretaker-larger", ["touch", "textsize"]),
        ("caretaker-close", ["touch", "done"]),
        ("leader", ["tap", cards["leader"]]),
        ("today-again", ["touch", "done"]),
        ("idle-warning", ["advance", 45]),
    ]:
        steps += [step, ["verify", name]]
    result = drive(tmp_path, db, steps, combos=[["sv", False]], orientation=orientation)
    assert result["redraw"] == "kept"  # the offscreen window keeps its frames
    assert len(result["verified"]) == 24
    assert {k: v for k, v in result["verified"].items() if v} == {}


# --- measured on the rendered screen -------------------------------------------------------


def pixel_ratio(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    from kiosk.ui.theme import contrast_ratio

    return contrast_ratio(
        "#{:02x}{:02x}{:02x}".format(*a[:3]), "#{:02x}{:02x}{:02x}".format(*b[:3])
    )


def check_measure(m: dict[str, Any]) -> list[str]:
    """Sizes in millimetres, whole pixels, unwrapped header controls, and
    contrast measured in the screenshot: text >= 4.5:1 against the pixels
    around it, every button's outline >= 3:1 against the surface outside it."""
    from PIL import Image

    from kiosk.display import CAP_HEIGHT_EM

    img = Image.open(m["png"]).convert("RGB")
    width, height = img.size
    per_mm = m["px_per_mm"]
    bad: list[str] = []

    def at(x: float, y: float) -> tuple[int, ...]:
        px = min(width - 1, max(0, int(x)))
        py = min(height - 1, max(0, height - 1 - int(y)))
        return img.getpixel((px, py))  # type: ignore[return-value]

    for w in m["widgets"]:
        x, y, ww, hh = w["window"]
        if y < 0 or y + hh > height:
            continue  # (partly) scrolled out of the window: measured where it is shown
        label = f"{w['name'] or w['text'][:30]!r}"
        if any(v != int(v) for v in (x, y, ww, hh, w["font"])):
            bad.append(f"{label}: not on whole pixels {w['window']} font {w['font']}")
        cap = w["font"] * CAP_HEIGHT_EM / per_mm
        if cap < 3.98:
            bad.append(f"{label}: capitals {cap:.2f} mm")
        if w["role"] in ("status_free", "status_busy") and cap < 14.98:
            bad.append(f"{label}: status capitals {cap:.2f} mm")
        if w["button"]:
            if min(ww, hh) / per_mm < 8.95:
                bad.append(f"{label}: target {ww / per_mm:.1f} x {hh / per_mm:.1f} mm")
            if w["fit"] and w["texture"][1] > w["font"] * 1.6:
                bad.append(f"{label}: header control wraps")
            inside, outside = at(x + 0.5, y + hh / 2), at(x - 3, y + hh / 2)
            if x >= 3 and pixel_ratio(inside, outside) < 3.0:
                bad.append(f"{label}: outline {pixel_ratio(inside, outside):.2f}:1")
        # Text: the ground (a corner inside) against the strongest pixel inside.
        ground = at(x + 1, y + 1)
        box = (int(x), max(0, height - int(y + hh)), int(x + ww), min(height, height - int(y)))
        if box[2] - box[0] > 2 and box[3] - box[1] > 2:
            crop = img.crop(box)
            best = max(pixel_ratio(ground, p) for _, p in crop.getcolors(maxcolors=1 << 22) or [])
            if best < 4.5:
                bad.append(f"{label}: text contrast {best:.2f}:1")
    return bad


def measured(tmp_path: Path, orientation: str) -> dict[str, Any]:
    db = tmp_path / "node.db"
    cards = demo_db(db)
    return drive(tmp_path, db, [
        ["measure", "today"],
        ["touch", "contrast"],
        ["measure", "today-high"],
        ["touch", "contrast"],
        ["touch", "textsize"], ["touch", "textsize"],
        ["measure", "today-large"],
        ["touch", "textsize"],
        ["touch", "window:hall.b:11:00"],
        ["measure", "walkin-choose"],
        ["touch", "next"],
        ["measure", "walkin-identify"],
        ["touch", "cancel"],
        ["tap", cards["caretaker"]],
        ["measure", "caretaker"],
        ["touch", "contrast"],
        ["measure", "caretaker-high"],
        ["touch", "done"],
        ["tap", cards["leader"]],
        ["measure", "leader"],
    ], orientation=orientation, readers=READERS)  # fmt: skip


def reaches_bottom(m: dict[str, Any]) -> list[str]:
    """No half-empty screen: the content reaches the bottom of the window.
    A screen with buttons has its lowest one within 8 mm of the bottom edge
    (the way on is at the bottom); Today, whose timeline is drawn, has ink
    (its lines, blocks and hours) in the window's bottom 3 cm."""
    from PIL import Image

    per_mm = m["px_per_mm"]
    if m["name"].startswith("today"):
        img = Image.open(m["png"]).convert("RGB")
        band = img.crop((0, img.height - round(30 * per_mm), img.width, img.height))
        ground = band.getpixel((0, band.height - 1))
        counts = band.getcolors(maxcolors=1 << 22) or []
        share = 1 - sum(n for n, p in counts if p == ground) / (band.width * band.height)
        return [] if share > 0.05 else [f"{m['name']}: the bottom 3 cm is {share:.0%} drawn"]
    if any(w["window"][1] < 0 for w in m["widgets"]):
        return []  # it goes on below the window: a scrolled screen is full
    buttons = [w["window"] for w in m["widgets"] if w["button"]]
    lowest = min(y for _, y, _, _ in buttons)
    return (
        [] if lowest <= 8 * per_mm else [f"{m['name']}: lowest button {lowest / per_mm:.0f} mm up"]
    )


def timeline_named(m: dict[str, Any]) -> list[str]:
    """Today's timeline draws (on its canvas) the rooms' names and the hours
    (at 11:00 the now-time may hide 10:00 and 12:00 on a squeezed timeline)."""
    words = [w.replace("\n", " ") for w in m["timeline"] or []]
    need = ["Stora hallen", "Sektion A", "Sektion B", "Sektion C", "Gymmet", "14:00", "16:00"]
    return [w for w in need if w not in words]


def test_sizes_and_contrast_measured_portrait(tmp_path: Path) -> None:
    result = measured(tmp_path, "portrait")
    assert len(result["measures"]) == 8
    for name in ("today", "today-high", "today-large"):
        assert timeline_named(result["measures"][name]) == [], name
    for name, m in result["measures"].items():
        assert check_measure(m) == [], name
        assert reaches_bottom(m) == [], name
        assert m["size"] == [1080, 1920]


def test_sizes_and_contrast_measured_landscape(tmp_path: Path) -> None:
    result = measured(tmp_path, "landscape")
    for name, m in result["measures"].items():
        assert check_measure(m) == [], name
        assert reaches_bottom(m) == [], name
        assert m["size"] == [1920, 1080]
    today = result["measures"]["today"]
    for name in ("today", "today-high", "today-large"):
        assert timeline_named(result["measures"][name]) == [], name
    statuses = [w for w in today["widgets"] if w["role"] in ("status_free", "status_busy")]
    assert len(statuses) == 4 and all(w["window"][1] >= 0 for w in statuses)  # all on screen


# --- without sight: keys only, and what was spoken -----------------------------------------


KP = {str(d): 256 + d for d in range(10)}
TAB, ENTER = 9, 13


def test_walkin_by_keys_only_with_what_was_spoken(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    demo_db(db)
    phone = "0701234567"
    result = drive(tmp_path, db, [
        ["tab_to", "book-now:hall.a"],
        ["key", ENTER],
        ["tab_to", "start:13:00"],
        ["key", ENTER],
        ["tab_to", "next"],
        ["key", ENTER],
        *[["key", KP[d]] for d in phone],
        ["tab_to", "phone"],
        ["key", ENTER],
        ["tab_to", "confirm"],
        ["key", ENTER],
        ["tab_to", "say"],
        ["key", ENTER],
        ["code"],
        ["shot", "keys-done"],
    ], combos=[["sv", False]])  # fmt: skip
    keys = result["keys"]
    said = [(k["focus"], k["said"]) for k in keys]
    # Today: the first Tab lands on "Boka nu" and says it, with the time in words.
    assert said[0] == ("book-now:hall.a", ["Boka nu, elva till tolv"])
    enter_choose = next(k for k in keys if k["screen"] == "walkin")
    assert enter_choose["said"] == [
        "Boka Sektion A. Välj starttid och längd. Vald tid: elva till tolv."
    ]
    picked = next(k for k in keys if k["focus"] == "start:13:00")
    assert picked["said"] == ["Start tretton"]
    after_pick = keys[keys.index(picked) + 1]
    assert after_pick["said"] == [
        "Boka Sektion A. Välj starttid och längd. Vald tid: tretton till fjorton."
    ]
    nxt = next(k for k in keys if k["focus"] == "next")
    assert nxt["said"] == ["Nästa: boka tretton till fjorton"]
    identify = keys[keys.index(nxt) + 1]
    assert identify["said"] == ["Håll ditt kort mot läsaren. Eller ange ditt telefonnummer."]
    typed = [k for k in keys if k["key"] >= 256]
    assert [k["said"] for k in typed][:2] == [["1 siffra"], ["2 siffror"]]
    assert all(phone[:3] not in " ".join(k["said"]) for k in keys)  # the number never spoken
    confirm_screen = keys[keys.index(next(k for k in keys if k["focus"] == "phone")) + 1]
    assert confirm_screen["said"] == [
        "Sektion A, tretton till fjorton. Taxa för privatperson. Tryck Bekräfta för att boka."
    ]
    done = keys[keys.index(next(k for k in keys if k["focus"] == "confirm")) + 1]
    assert done["screen"] == "walkin" and done["said"][0].startswith(
        "Bokat: Sektion A, tretton till fjorton."
    )
    assert "visas på skärmen" in done["said"][0] and result["code"] not in " ".join(done["said"])
    code_words = ", ".join(
        ["noll", "ett", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio"][int(c)]
        for c in result["code"]
    )
    assert keys[-1]["said"] == [f"Din dörrkod är {code_words}. Tryck sedan på fyrkant."]
    with Replica.open(db) as rep:
        [event] = [e for e in pending_events(rep) if e.type == "walkin.created"]
        assert (
            "phone_digest" in event.body
            and event.body["booking"]["start"] == "2026-11-24T12:00:00Z"
        )


def test_headset_gets_the_code_and_nothing_else_says_it(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    demo_db(db)
    result = drive(tmp_path, db, [
        ["touch", "window:hall.a:11:00"],
        ["touch", "next"],
        *[["key", KP[d]] for d in "0701234567"],
        ["touch", "phone"],
        ["touch", "confirm"],
        ["tab_to", "say"],
        ["key", ENTER],
        ["code"],
    ], headset=True)  # fmt: skip
    last = result["keys"][-1]
    assert last["said"] == ["Koden läses upp i hörlurarna."]
    words = ["noll", "ett", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio"]
    spoken_code = ", ".join(words[int(c)] for c in result["code"])
    assert all(spoken_code not in s for s in result["said"])  # the speaker never says it
    assert any(spoken_code in p for p in last["private"])


# --- messages from central, on the real kiosk ---------------------------------------------


def test_message_from_central_is_shown_and_answered(tmp_path: Path) -> None:
    """Central's messages on the real kiosk; the caretaker's screen also lists
    a database fault the door controller reports, counted with the alarms."""
    db = tmp_path / "node.db"
    cards = demo_db(db)
    result = drive(tmp_path, db, [
        ["message", 7, {"text": "Hallen stänger 20:00 i kväll", "audience": "public"}],
        ["message", 8, {"text": "Vattenläcka i förrådet", "audience": "caretaker"}],
        ["advance", 1],
        ["shot", "message-public"],
        ["door_fault", "write", "database or disk is full"],
        ["tap", cards["caretaker"]],
        ["shot", "message-caretaker"],
        ["measure", "message-caretaker"],
        ["touch", "done"],
        ["measure", "message-public"],
    ], combos=[["sv", False], ["en", True]], readers=READERS)  # fmt: skip
    public = [w["text"] for w in result["measures"]["message-public"]["widgets"]]
    assert any("Hallen stänger 20:00 i kväll" in t for t in public)
    assert not any("Vattenläcka" in t for t in public)
    caretaker = [w["text"] for w in result["measures"]["message-caretaker"]["widgets"]]
    assert any("Vattenläcka i förrådet" in t for t in caretaker)
    # the held-open gym door, the gym reader offline, and the door's database fault
    assert "✗ 3 larm" in caretaker
    [listed] = [t for t in caretaker if "Dörrstyrningen kan inte skriva" in t]
    assert len(listed.splitlines()) == 3
    assert listed.rstrip().endswith("sedan 11:00")  # since when, in the facility's time
    assert sum("Hallen stänger" in s for s in result["said"]) >= 1
    with Replica.open(db) as rep:
        done = [e.body for e in pending_events(rep) if e.type == "command.done"]
    assert [(d["seq"], d["result"]) for d in done] == [(7, "done"), (8, "done")]


# --- never promise what the door refuses ---------------------------------------------------


def test_untrusted_clock_offers_nothing_and_says_why(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    demo_db(db)
    result = drive(tmp_path, db, [["measure", "today"], ["shot", "today-untrusted"]],
                   clock_trusted=False, combos=[["sv", False]])  # fmt: skip
    widgets = result["measures"]["today"]["widgets"]
    assert not any((w["name"] or "").startswith(("book-now:", "window:")) for w in widgets)
    assert any("klocka" in w["text"] for w in widgets)


def test_stale_walkin_sold_by_the_kiosk_opens_the_real_door(tmp_path: Path) -> None:
    """PROTOCOL.md §7 across processes: the kiosk (its own process, offscreen)
    sells a walk-in while the data is stale and the clock trusted, inside the
    node's lease; the door controller, in this process on the same database
    file, opens for the code at the booking's start."""
    from door_controller.core import DoorCore, LockCommand, ReaderSite
    from door_controller.readers.events import KeyPressed
    from door_controller.testing import FakeClock
    from sync.protocol.timeutil import to_ts
    from tests.support.door_node import DoorNode

    db = tmp_path / "node.db"
    demo_db(db)
    with Replica.open(db) as rep, rep.write():  # central last heard 80 h ago
        rep.conn.execute("UPDATE sync_state SET head_seen_ts = ?", [to_ts(NOW) - 80 * 3600])
    result = drive(tmp_path, db, [
        ["touch", "window:hall.a:11:00"],
        ["touch", "start:13:00"],
        ["touch", "next"],
        *[["key", KP[d]] for d in "0701234567"],
        ["touch", "phone"],
        ["touch", "confirm"],
        ["code"],
    ])  # fmt: skip
    assert result["final"] == "walkin" and "code" in result
    clock = FakeClock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))  # 13:00 local, its start
    core = DoorCore(
        node=DEMO_NODE, facility_id=FACILITY_ID, credential_key=DEMO_CREDENTIAL_KEY,
        readers={"main-in": ReaderSite("door.main")},
    )  # fmt: skip
    door = DoorNode(db, core, clock)  # the door daemon's parts on that database file
    try:
        door.start()
        out: list[object] = []
        for k in result["code"] + "#":
            out += door.feed(KeyPressed("main-in", k)).effects
    finally:
        door.close()
    with Replica.open(db) as rep:
        assert LockCommand("door.main", False) in out, [
            e.body for e in pending_events(rep) if e.type.startswith("access.")
        ]

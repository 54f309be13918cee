"""Runs the real kiosk app in Kivy's offscreen window and plays a scenario.

Run by tests/kiosk/test_render.py in a child process (so no Kivy window leaks
into other tests): ``python kivy_driver.py SCENARIO.json``. The scenario names
a node database, a kiosk, the fake time and steps; the driver writes the
result JSON the scenario names. Each step runs once the app has settled
after the one before: two polls of the model (a card tap or a message written
to the database is taken by then) and a frame drawn after them (every render
they caused is laid out and on screen). Nothing waits on wall time, so a
slow frame on a loaded machine delays a step and never reorders it.

- ``["touch", NAME]``: touch the button named NAME (``UnitTestTouch`` down
  and up at its centre, through the window), scrolling it into view only when
  it is not on screen; a touch that the button does not receive is an error;
- ``["tap", DIGEST]``: a card on the kiosk's reader, written to the database
  by a second connection as the door controller would;
- ``["shot", NAME]``: screenshots in Swedish and English, normal and high
  contrast (``NAME-sv-normal.png`` ...), then the preferences as they were;
- ``["check"]``: record the screen and any button under 9 mm;
- ``["measure", NAME]``: every text and button on screen with its geometry,
  font and colours, and a screenshot to measure them in;
- ``["advance", SECONDS]``: move the fake clock (the kiosk's next ticks see
  the minute turn and refresh);
- ``["verify", NAME]``: the window as drawn (only what changed) against the
  same state drawn whole; the box of differing pixels, or None;
- ``["trust", BOOL]``: the clock becomes trusted or untrusted;
- ``["fresh"]``: central's head verified at the fake time (the data is fresh);
- ``["door_fault", KIND, DETAIL]``: the door controller reports a database
  fault in its health file (``sync.replica.door_health``).

With ``"report_corrupt": true`` the kiosk reports corrupt records it meets in
its health file, as ``hallvakt kiosk`` does (``kiosk.services.corrupt_tally``).
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

from kivy.config import Config

from kiosk.display import Display
from kiosk.main import kivy_settings

SPEC = json.loads(Path(sys.argv[1]).read_text())
faulthandler.dump_traceback_later(
    SPEC.get("timeout", 200), exit=True, file=sys.__stderr__
)  # a hang shows where, not a bare timeout
DISPLAY = Display.of(
    tuple(SPEC.get("resolution", (1080, 1920))), SPEC.get("orientation", "portrait"),
    diagonal_in=SPEC.get("diagonal", 21.5),
)  # fmt: skip
for (section, key), value in kivy_settings(DISPLAY).items():
    Config.set(section, key, value)
Config.set("graphics", "resizable", "0")

from kivy.base import EventLoop  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402

from door_controller.testing import FakeClock  # noqa: E402
from kiosk.model import KioskModel  # noqa: E402
from kiosk.services import KioskSettings, ReaderPlace, Services, corrupt_tally  # noqa: E402
from kiosk.testing import RecordingSpeaker  # noqa: E402
from kiosk.ui.app import KioskApp  # noqa: E402
from kiosk.ui.theme import MIN_TARGET_MM  # noqa: E402
from kiosk.ui.widgets import Press, Text  # noqa: E402
from sync.replica import Replica, record_kiosk_tap  # noqa: E402
from tests.support.kivy_touch import tap  # noqa: E402

rep = Replica.open(SPEC["db"])
clock = FakeClock(datetime.fromisoformat(SPEC["now"]))
clock.is_trusted = SPEC.get("clock_trusted", True)
settings = KioskSettings(
    SPEC["kiosk"], ("sv", "en"), "sv", 60, True, True, display=DISPLAY,
    qr_url_template=SPEC.get("qr_url_template"),
    readers={r: ReaderPlace(*p) for r, p in SPEC.get("readers", {}).items()},
)  # fmt: skip
speaker = RecordingSpeaker(has_headset=SPEC.get("headset", False))
tally = corrupt_tally(SPEC["db"], SPEC["kiosk"]) if SPEC.get("report_corrupt") else None
svc = Services(
    rep, clock, speaker, settings, SPEC["node"], SPEC["facility"], bytes.fromhex(SPEC["key"]),
    corrupt=tally,
)  # fmt: skip
model = KioskModel(svc)
app = KioskApp(model, DISPLAY, poll_s=0.05)
out: dict[str, Any] = {
    "shots": [], "small": [], "screens": [], "errors": [], "scrolled": [], "keys": [],
    "measures": {}, "verified": {},
}  # fmt: skip
flips = [0]
Window.bind(on_flip=lambda *_: flips.__setitem__(0, flips[0] + 1))
artifacts = Path(SPEC.get("artifacts", "."))
steps: list[list[Any]] = list(SPEC["steps"])


def find(name: str) -> Any:
    assert app.view is not None
    for w in app.view.walk():
        if getattr(w, "hallvakt_name", None) == name:
            return w
    raise LookupError(f"no button {name!r} on {model.screen.value}")


def visible(w: Any) -> bool:
    """The whole widget is inside the window and inside the scroll view's viewport."""
    x0, y0 = w.to_window(w.x, w.y)
    x1, y1 = w.to_window(w.right, w.top)
    if x0 < 0 or y0 < 0 or x1 > Window.width or y1 > Window.height:
        return False
    sv = app.view.scroll
    if sv is None:
        return True  # the screen fits: nothing scrolls
    parent = w.parent
    while parent is not None and parent is not sv and parent.parent is not parent:
        parent = parent.parent
    if parent is not sv:
        return True  # in the frame, not in the scroll view
    _, sy0 = sv.to_window(sv.x, sv.y)
    _, sy1 = sv.to_window(sv.right, sv.top)
    return sy0 <= y0 and y1 <= sy1


def touch(name: str) -> None:
    w = find(name)
    if not visible(w):  # scroll only when the button is not on screen already
        assert app.view.scroll is not None
        app.view.scroll.scroll_to(w, padding=10, animate=False)
        app.view.scroll.update_from_scroll()
        out["scrolled"].append(name)
    if not tap(w):  # the button must be what the touch landed on
        x, y = w.to_window(w.center_x, w.center_y)
        raise LookupError(f"the touch at {x:.0f},{y:.0f} missed {name!r}")


def check() -> None:
    assert app.view is not None
    least = DISPLAY.mm(MIN_TARGET_MM) - 0.5
    for w in app.view.walk():
        if isinstance(w, Press) and (w.height < least or w.width < least):
            out["small"].append([model.screen.value, w.text, w.width, w.height])
    out["screens"].append(model.screen.value)


def verify(name: str) -> None:
    """The window as drawn frame by frame (only what changed, where the
    platform keeps frames) against the same state drawn whole: the pixels
    that differ are recorded, and both pictures kept when any do."""
    from PIL import Image, ImageChops

    assert app.view is not None
    Window.canvas.ask_update()
    EventLoop.idle()
    kept = Window.screenshot(name=str(artifacts / "verify.png"))
    app.view.redraw.whole()
    Window.canvas.ask_update()
    EventLoop.idle()
    whole = Window.screenshot(name=str(artifacts / "verify.png"))
    a, b = Image.open(kept).convert("RGB"), Image.open(whole).convert("RGB")
    box = ImageChops.difference(a, b).getbbox()
    out["verified"][name] = list(box) if box else None
    if box:
        os.replace(kept, artifacts / f"verify-{name}-partial.png")
        os.replace(whole, artifacts / f"verify-{name}-whole.png")
    else:
        os.remove(kept)
        os.remove(whole)
    out["redraw"] = app.view.redraw.mode


def measure(name: str) -> None:
    """Every label and button on screen: geometry in window pixels, font size,
    colours, whether its words wrapped; and a screenshot to measure contrast in."""
    assert app.view is not None
    Window.canvas.ask_update()
    EventLoop.idle()
    path = Window.screenshot(name=str(artifacts / "measure.png"))
    final = artifacts / f"measure-{name}.png"
    os.replace(path, final)
    found = []
    for w in app.view.walk():
        if not isinstance(w, Text | Press) or not w.text or w.width <= 1:
            continue
        x0, y0 = w.to_window(w.x, w.y)
        found.append({
            "text": w.text, "font": w.font_size, "button": isinstance(w, Press),
            "name": getattr(w, "hallvakt_name", None), "fit": getattr(w, "fit", False),
            "least": getattr(w, "least", None), "window": [x0, y0, w.width, w.height],
            "local": [w.x, w.y, w.width, w.height], "texture": list(w.texture_size),
            "fg": list(w.color), "role": getattr(w, "role", None),
        })  # fmt: skip
    timeline = [w.words_drawn for w in app.view.walk() if hasattr(w, "words_drawn")]
    out["measures"][name] = {
        "timeline": timeline[0] if timeline else None,
        "name": name, "png": str(final), "widgets": found, "px_per_mm": DISPLAY.px_per_mm,
        "size": [Window.width, Window.height], "high": model.prefs.high_contrast,
    }  # fmt: skip


def shot(name: str) -> None:
    keep = model.prefs
    combos = SPEC.get("combos") or [("sv", False), ("sv", True), ("en", False), ("en", True)]
    for lang, contrast in combos:
        if True:
            model.prefs = replace(keep, lang=lang, high_contrast=contrast)
            app.view.render()
            # Draw a frame even when the render changed nothing (kept widgets
            # already drawn): otherwise the back buffer read holds an old frame.
            Window.canvas.ask_update()
            EventLoop.idle()
            path = Window.screenshot(name=str(artifacts / "shot.png"))
            final = artifacts / f"{name}-{lang}-{'high' if contrast else 'normal'}.png"
            os.replace(path, final)
            out["shots"].append(str(final))
            check()
    model.prefs = keep
    app.view.render()


def run_step(_dt: float) -> None:
    if not steps:
        out["said"] = svc.speaker.texts()  # type: ignore[attr-defined]
        out["final"] = model.screen.value
        out["renders"] = app.view.renders
        Path(SPEC["result"]).write_text(json.dumps(out, indent=1))
        app.stop()
        return
    step = steps.pop(0)
    try:
        if step[0] == "touch":
            touch(step[1])
        elif step[0] == "tap":
            with Replica.open(SPEC["db"]) as door:  # the door controller's connection
                record_kiosk_tap(door, SPEC["kiosk"], "kiosk-reader", step[1], clock.now())
        elif step[0] == "shot":
            shot(step[1])
        elif step[0] == "check":
            check()
        elif step[0] == "advance":
            clock.advance(step[1])
        elif step[0] == "door_fault":  # the door controller's health file reports a fault
            from sync.replica.door_health import (
                DoorFault,
                DoorHealth,
                FaultKind,
                HealthFile,
                health_path,
            )

            health = HealthFile(health_path(SPEC["db"]))
            fault = DoorFault(FaultKind(step[1]), step[2], clock.now())
            health.write(DoorHealth(os.getpid(), clock.now(), (fault,)))
            health.close()
        elif step[0] == "trust":  # the kernel's NTP state turns (PROTOCOL.md §7)
            clock.is_trusted = bool(step[1])
        elif step[0] == "fresh":  # central's head verified now, as the sync link records it
            with Replica.open(SPEC["db"]) as link:
                state = link.state()
                link.record_head(state.applied_rev, state.applied_rev, clock.now())
        elif step[0] == "code":  # what the visitor reads off the screen
            assert model.walkin is not None and model.walkin.done is not None
            out["code"] = model.walkin.done.code
        elif step[0] == "tab_to":  # Tab until the focus is on NAME, each move recorded
            for _ in range(60):
                before = len(speaker.said)
                Window.dispatch("on_key_down", 9, 0, None, [])
                out["keys"].append({
                    "key": 9, "screen": model.screen.value, "focus": app.view.focus_name,
                    "said": speaker.texts()[before:], "private": [],
                })  # fmt: skip
                if app.view.focus_name == step[1]:
                    break
            else:
                raise LookupError(f"Tab never reached {step[1]!r}")
        elif step[0] == "dump":  # every widget's class and place (debugging a layout)
            out["dump"] = [
                [type(w).__name__, *w.to_window(w.x, w.y), w.width, w.height]
                for w in app.view.walk()
            ]
        elif step[0] == "measure":
            measure(step[1])
        elif step[0] == "verify":
            verify(step[1])
        elif step[0] == "key":
            before = len(speaker.said)
            Window.dispatch("on_key_down", step[1], 0, None, step[2] if len(step) > 2 else [])
            app.view.render()
            out["keys"].append({
                "key": step[1], "screen": model.screen.value,
                "focus": app.view.focus_name, "said": speaker.texts()[before:],
                "private": [t for _, t in speaker.private],
            })  # fmt: skip
        elif step[0] == "message":
            from datetime import timedelta

            from sync.replica import queue_command

            with Replica.open(SPEC["db"]) as link:  # the sync link's connection
                queue_command(
                    link,
                    step[1],
                    "message",
                    step[2],
                    clock.now() + timedelta(minutes=5),
                    clock.now(),
                )
    except Exception as exc:  # reported to the test, which fails with it
        out["errors"].append(f"{step}: {type(exc).__name__}: {exc}")
    settle(run_step)


def settle(then: Any) -> None:
    """Call ``then`` once the model has polled twice since now and a frame
    has been drawn after that (the step's effects are rendered, laid out and
    on screen), however long each of those takes."""
    ticks = app.ticks + 2
    seen: list[int] = []

    def wait(_dt: float) -> None:
        if app.ticks < ticks:
            Clock.schedule_once(wait, 0)
            return
        if not seen:
            seen.append(flips[0])
            Window.canvas.ask_update()  # a frame even if nothing changed
        if flips[0] <= seen[0]:
            Clock.schedule_once(wait, 0)
            return
        then(0)

    Clock.schedule_once(wait, 0)


def start(_dt: float) -> None:
    settle(run_step)


Clock.schedule_once(start, 0)
app.run()
rep.close()

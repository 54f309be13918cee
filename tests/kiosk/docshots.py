"""``make kiosk-screens``: every kiosk screen for docs/kiosk.md, rendered from
the real widgets offscreen (tests/kiosk/kivy_driver.py against the demo
facility at 11:00 on a Tuesday), scaled to 45 % and stored as small palette
PNGs in docs/kiosk/.

What is shown: every screen in portrait, in Swedish with normal contrast and
in English with high contrast (``NAME-sv-normal.png``, ``NAME-en-high.png``);
the main screens (Today, the walk-in's steps, the leader's number pad, the
caretaker) also in landscape (``landscape-NAME-...``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.kiosk.test_render import READERS, demo_db, drive  # noqa: E402

OUT = ROOT / "docs" / "kiosk"
SCALE = 0.45
COLOURS = 64
BOTH = [["sv", False], ["en", True]]
UNKNOWN_CARD = "A" * 43


def walkin(cards: dict[str, str], prefix: str = "") -> list[list[object]]:
    """Today, then a walk-in from the timeline to the door code."""
    return [
        ["shot", f"{prefix}today"],
        ["touch", "window:hall.b:11:00"],
        ["touch", "start:13:00"],
        ["shot", f"{prefix}walkin-choose"],
        ["touch", "next"],
        *[["key", 256 + int(d)] for d in "0701"],
        ["shot", f"{prefix}walkin-identify"],
        ["touch", "back"],
        ["touch", "next"],
        ["tap", cards["leader"]],
        ["shot", f"{prefix}walkin-confirm"],
        ["touch", "confirm"],
        ["shot", f"{prefix}walkin-done"],
        ["touch", "done"],
    ]


def headcount(cards: dict[str, str], prefix: str = "") -> list[list[object]]:
    """The leader at 12:50, ten minutes before the team's booking: the number
    pad, then what was saved."""
    return [
        ["advance", 110 * 60],
        ["fresh"],
        ["tap", cards["leader"]],
        ["touch", "count"],
        ["touch", "num:1"],
        ["touch", "num:4"],
        ["touch", "field:l"],
        ["touch", "num:2"],
        ["shot", f"{prefix}leader-count"],
        ["touch", "save"],
        ["shot", f"{prefix}leader-done"],
        ["touch", "done"],
    ]


def portrait(cards: dict[str, str]) -> list[list[object]]:
    return [
        *walkin(cards),
        ["tab_to", "book-now:hall.a"],
        ["shot", "today-keyboard-focus"],
        ["key", 27],
        ["tap", cards["caretaker"]],
        ["shot", "caretaker"],
        ["touch", "release"],
        ["shot", "caretaker-release-asks"],
        ["touch", "release-no"],
        ["touch", "done"],
        ["tap", cards["leader"]],
        ["shot", "leader"],
        ["touch", "done"],
        ["tap", UNKNOWN_CARD],
        ["shot", "notice-unknown-card"],
        ["touch", "ok"],
        ["touch", "window:hall.b:11:00"],
        ["touch", "next"],
        ["tap", cards["leader"]],
        ["trust", False],  # the clock cannot be vouched for any more: the door would refuse
        ["touch", "confirm"],
        ["shot", "walkin-refused"],
        ["touch", "cancel"],
        ["shot", "today-untrusted-clock"],
        ["trust", True],
        ["message", 1, {"text": "Hallen stänger 20:00 i kväll", "audience": "public"}],
        ["message", 2, {"text": "Vattenläcka i förrådet", "audience": "caretaker"}],
        ["advance", 1],
        ["shot", "today-message"],
        ["door_fault", "write", "database or disk is full"],
        ["tap", cards["caretaker"]],
        ["shot", "caretaker-message-fault"],
        ["touch", "done"],
        ["touch", "window:hall.a:11:00"],
        ["advance", 41],
        ["shot", "idle-warning"],
        ["touch", "more-time"],
        ["touch", "cancel"],
        *headcount(cards),
        ["advance", 90 * 60],  # central not heard for 90 minutes
        ["shot", "today-offline"],
    ]  # fmt: skip


def landscape(cards: dict[str, str]) -> list[list[object]]:
    return [
        *walkin(cards, "landscape-"),
        ["tap", cards["caretaker"]],
        ["shot", "landscape-caretaker"],
        ["touch", "done"],
        *headcount(cards, "landscape-"),
    ]


def run(tmp: Path, name: str, steps: object, **spec: object) -> list[str]:
    work = tmp / name
    work.mkdir()
    db = work / "node.db"
    cards = demo_db(db)
    made = steps(cards) if callable(steps) else steps
    result = drive(work, db, made, readers=READERS, combos=BOTH, **spec)
    return list(result["shots"])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        shots = run(tmp, "portrait", portrait) + run(tmp, "landscape", landscape,
                                                      orientation="landscape")  # fmt: skip
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        total = 0
        for path in shots:
            img = Image.open(path).convert("RGB")
            small = img.resize((round(img.width * SCALE), round(img.height * SCALE)), Image.LANCZOS)
            pal = small.quantize(
                colors=COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
            target = OUT / Path(path).name
            pal.save(target, optimize=True)
            total += target.stat().st_size
        print(f"{len(shots)} screens in {OUT.relative_to(ROOT)}, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()

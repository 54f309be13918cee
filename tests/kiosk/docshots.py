"""``make kiosk-screens``: every kiosk screen for docs/kiosk.md, rendered from
the real widgets offscreen (tests/kiosk/kivy_driver.py against the demo
facility), scaled to 45 % and stored as small palette PNGs in docs/kiosk/.

The selection: every screen in portrait, Swedish, normal contrast; Today and
the phone keypad in English high contrast; Today, the door code and the
caretaker in landscape (Swedish normal, English high contrast).
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


def walkin_steps(cards: dict[str, str]) -> list[list[object]]:
    return [
        ["touch", "window:hall.b:11:00"],
        ["touch", "start:13:00"],
        ["shot", "walkin-choose"],
        ["touch", "next"],
        ["key", 256],
        ["key", 263],
        ["key", 256],
        ["key", 257],
        ["key", 258],
        ["shot", "walkin-identify"],
        ["touch", "cancel"],
        ["touch", "window:hall.b:11:00"],
        ["touch", "start:13:00"],
        ["touch", "next"],
        ["tap", cards["leader"]],
        ["shot", "walkin-confirm"],
        ["touch", "confirm"],
        ["shot", "walkin-done"],
        ["touch", "done"],
    ]


def portrait(cards: dict[str, str]) -> list[list[object]]:
    return [
        ["shot", "today"],
        ["tab_to", "book-now:hall.a"],
        ["shot", "today-keyboard-focus"],
        *walkin_steps(cards),
        ["tap", cards["caretaker"]],
        ["touch", "release"],
        ["shot", "caretaker-release-asks"],
        ["touch", "release-no"],
        ["touch", "done"],
        ["tap", cards["leader"]],
        ["shot", "leader"],
        ["touch", "done"],
        ["tap", "A" * 43],
        ["shot", "notice-unknown-card"],
        ["touch", "ok"],
        ["message", 1, {"text": "Hallen stänger 20:00 i kväll", "audience": "public"}],
        ["message", 2, {"text": "Vattenläcka i förrådet", "audience": "caretaker"}],
        ["advance", 1],
        ["shot", "today-message"],
        ["tap", cards["caretaker"]],
        ["shot", "caretaker-message"],
        ["touch", "done"],
        ["touch", "window:hall.a:11:00"],
        ["advance", 41],
        ["shot", "idle-warning"],
    ]  # fmt: skip


def run(tmp: Path, name: str, steps: list[list[object]], **spec: object) -> list[str]:
    work = tmp / name
    work.mkdir()
    db = work / "node.db"
    cards = demo_db(db)
    result = drive(work, db, steps(cards) if callable(steps) else steps, readers=READERS, **spec)
    return list(result["shots"])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        shots: list[str] = []
        shots += run(tmp, "portrait", portrait, combos=[["sv", False]])  # type: ignore[arg-type]
        shots += run(tmp, "portrait-en", lambda c: [  # type: ignore[arg-type]
            ["shot", "today"], ["touch", "window:hall.b:11:00"], ["touch", "next"],
            ["shot", "walkin-identify"], ["touch", "cancel"], ["tap", c["leader"]],
            ["shot", "leader"],
        ], combos=[["en", True]])  # fmt: skip
        shots += run(tmp, "landscape", lambda c: [  # type: ignore[arg-type]
            ["shot", "landscape-today"], ["touch", "window:hall.b:11:00"],
            ["touch", "start:13:00"], ["touch", "next"], ["tap", c["leader"]],
            ["touch", "confirm"], ["shot", "landscape-walkin-done"], ["touch", "done"],
            ["tap", c["caretaker"]],
            ["shot", "landscape-caretaker"],
        ], orientation="landscape", combos=[["sv", False], ["en", True]])  # fmt: skip
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        total = 0
        for path in shots:
            img = Image.open(path).convert("RGB")
            small = img.resize((round(img.width * SCALE), round(img.height * SCALE)), Image.LANCZOS)
            pal = small.quantize(
                colors=96, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
            target = OUT / Path(path).name
            pal.save(target, optimize=True)
            total += target.stat().st_size
        print(f"{len(shots)} screens in {OUT.relative_to(ROOT)}, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()

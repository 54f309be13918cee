"""The demo's kiosk process: ``python -m hallvakt.demo kiosk``.

Rules this module guarantees:
- It runs ``hallvakt kiosk`` (``kiosk.main.run_kiosk``) and stops it cleanly
  on SIGTERM, from Kivy's clock, never from the signal handler.
- With ``--screens DIR`` it saves the kiosk's window every ``SHOT_EVERY_S`` as
  ``DIR/kiosk-latest.png`` (replaced by a rename) and keeps the newest
  ``KEEP_SHOTS`` numbered copies, one each time the picture changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time as clock
from collections.abc import Sequence
from pathlib import Path

SHOT_EVERY_S = 5.0
KEEP_SHOTS = 60


class Shooter:
    """Saves the kiosk's window every ``SHOT_EVERY_S``: ``kiosk-latest.png`` and a
    numbered copy whenever the picture changed (the newest ``KEEP_SHOTS``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.last: bytes | None = None
        self.count = 0

    def take(self, _dt: float) -> None:
        from kivy.core.window import Window

        path = Path(Window.screenshot(name=str(self.folder / "shot.png")))
        data = path.read_bytes()
        if data != self.last:
            self.count += 1
            shutil.copyfile(
                path, self.folder / f"kiosk-{self.count:04d}-{clock.strftime('%H%M%S')}.png"
            )
            for old in sorted(self.folder.glob("kiosk-0*.png"))[:-KEEP_SHOTS]:
                old.unlink(missing_ok=True)
            self.last = data
        os.replace(path, self.folder / "kiosk-latest.png")


def kiosk_child(argv: Sequence[str]) -> int:
    """``python -m hallvakt.demo kiosk --config FILE [--screens DIR]``:
    ``hallvakt kiosk`` that stops cleanly on SIGTERM and, with ``--screens``,
    saves screenshots."""
    p = argparse.ArgumentParser(prog="hallvakt.demo kiosk")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--screens", type=Path, default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.clock import Clock

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())

    def check_stop(_dt: float) -> None:
        if stop.is_set():
            from kivy.app import App

            app = App.get_running_app()
            if app is not None:
                app.stop()

    Clock.schedule_interval(check_stop, 0.2)
    if args.screens is not None:
        args.screens.mkdir(parents=True, exist_ok=True)
        shooter = Shooter(args.screens)
        Clock.schedule_once(shooter.take, 2.0)
        Clock.schedule_interval(shooter.take, SHOT_EVERY_S)
    from kiosk import main as kiosk_main

    code: int = kiosk_main.run_kiosk(
        argparse.Namespace(config=args.config, kiosk=None, fullscreen=False)
    )
    return code


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["kiosk"]:
        return kiosk_child(argv[1:])
    print("usage: python -m hallvakt.demo kiosk --config FILE [--screens DIR]", file=sys.stderr)
    return 2

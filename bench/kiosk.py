"""Benchmark of the kiosk (kiosk/) against a bare Kivy app with one label.

Run ``.venv/bin/python bench/kiosk.py`` (``--rounds N`` for more refreshes).
Each app runs in a child process of its own (one Kivy window per process),
offscreen through Mesa EGL, at 1080x1920 (the config's default kiosk screen),
in the same run, and the ratio is what to read:

1. first frame: from the child's first line (before Kivy is imported) to the
   first ``Window.on_flip``; the kiosk opens the node database and builds
   Today first.
2. refresh Today for 300 bookings, same data: ``model.refresh_today()``
   (the replica read and view-model) plus ``render()`` of the screen, then
   one frame; the baseline sets its label to the same 300 lines of text
   (rotated by one line every other round, so it draws them again) and draws
   a frame. Median of ``--rounds``.
3. refresh Today, changing: the same, but the fake clock moves 15 minutes
   each round (11:00 to 15:45, then again), so now/next, the free slots and
   their number change, as they do during a day.
4. memory: the child's peak RSS (``ru_maxrss``) and its RSS at the end
   (``/proc/self/statm`` after ``gc.collect()``). With ``--spaced N`` the
   child first runs N more changing refreshes 0.1 s apart (untimed), as a
   screen that redraws now and then does: back-to-back frames make threaded
   llvmpipe hold memory that frames a moment apart do not (a bench
   artifact, docs/benchmarks.md), so read RSS from a ``--spaced`` run.

The database: the demo facility (hallvakt.demo.data, seed 7) with today's
bookings replaced by 300: 75 quarter-hour bookings on each of the three
sections and the gym, 04:00-22:45, with association titles.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

T_START = time.perf_counter()
# This file is named like the kiosk package: run as a script, its own folder
# must not shadow ``kiosk``.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

from datetime import UTC, date, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SIZE = (1080, 1920)


def make_db(path: Path) -> int:
    from hallvakt.demo.data import generate, load_into
    from sync.protocol.timeutil import local_to_instant, zone
    from sync.replica import Replica

    ents = generate(seed=7, today=DAY, days_before=0, days_after=0)
    tz = zone("Europe/Stockholm")
    clubs = [h["id"] for h in ents["holder"] if h["kind"] == "association"]
    bookings = []
    for r, rid in enumerate(("hall.a", "hall.b", "hall.c", "gym")):
        for i in range(75):
            start = local_to_instant(DAY, datetime.min.time(), tz) + timedelta(minutes=240 + 15 * i)
            bookings.append({
                "id": f"bench.{rid}.{i:03d}", "resources": [rid],
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (start + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "holder": clubs[(r * 75 + i) % len(clubs)], "title": "", "status": "confirmed",
                "origin": "central", "lease": None, "node": None,
            })  # fmt: skip
    ents["booking"] = bookings
    ents["lease"] = []
    with Replica.open(path) as rep:
        load_into(rep, ents, rev=1, now=NOW)
        rep.record_head(1, 1, NOW)
    return len(bookings)


def rss_mib() -> float:
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(kind: str, db: str, rounds: int, spaced: int) -> None:
    os.environ.update(KIVY_NO_ARGS="1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    from kivy.config import Config

    Config.set("graphics", "width", str(SIZE[0]))
    Config.set("graphics", "height", str(SIZE[1]))
    from kivy.app import App
    from kivy.base import EventLoop
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.label import Label

    out: dict[str, Any] = {}
    lines: list[str] = []
    app: Any
    if kind == "kiosk":
        from door_controller.testing import FakeClock
        from hallvakt.demo.data import DEMO_CREDENTIAL_KEY, DEMO_NODE, FACILITY_ID
        from kiosk import texts
        from kiosk.model import KioskModel
        from kiosk.services import KioskSettings, Services
        from kiosk.testing import RecordingSpeaker
        from kiosk.ui.app import KioskApp
        from sync.replica import Replica

        rep = Replica.open(db)
        svc = Services(rep, FakeClock(NOW), RecordingSpeaker(), KioskSettings("foyer"),
                       DEMO_NODE, FACILITY_ID, DEMO_CREDENTIAL_KEY)  # fmt: skip
        model = KioskModel(svc)
        app = KioskApp(model)
        out["bookings_today"] = sum(len(r.entries) for r in model.today.rows)
    else:
        from hallvakt.demo.data import DEMO_NODE
        from kiosk import texts
        from kiosk.i18n import translator
        from kiosk.today import build_today
        from sync.replica import Replica

        with Replica.open(db) as rep:
            view = build_today(rep, DEMO_NODE, NOW)
        tr = translator("sv")
        lines = [texts.entry_text(tr, e) for r in view.rows for e in r.entries]

        class Bare(App):  # type: ignore[misc]
            def build(self) -> Any:
                self.label = Label(text="Hej")
                return self.label

        app = Bare()

    def first_flip(*_: Any) -> None:
        out.setdefault("first_frame_s", time.perf_counter() - T_START)

    Window.bind(on_flip=first_flip)

    def refresh(i: int, changing: bool) -> float:
        t = time.perf_counter()
        if kind == "kiosk":
            if changing:
                app.model.svc.clock.wall = NOW + timedelta(minutes=15 * (i % 20))
            app.model.refresh_today()
            app.view.render()
        else:
            app.label.text = "\n".join(lines[i % 2 :] + lines[: i % 2])
            app.label.texture_update()
        EventLoop.idle()  # one frame with the new content
        return time.perf_counter() - t

    def finish() -> None:
        out["end_rss_mib"] = rss_mib()
        out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out), flush=True)
        app.stop()

    def apart(i: int) -> None:
        if i >= spaced:
            finish()
            return
        refresh(i, True)
        Clock.schedule_once(lambda _dt: apart(i + 1), 0.1)

    def measure(_dt: float) -> None:
        for key, changing in (("refresh_s", False), ("changing_s", True)):
            out[key] = statistics.median(refresh(i, changing) for i in range(rounds))
        apart(0)

    Clock.schedule_once(measure, 0.5)
    app.run()


def run(kind: str, db: Path, rounds: int, spaced: int, home: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(KIVY_HOME=home, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--db", str(db), "--rounds", str(rounds),
         "--spaced", str(spaced)],
        env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--spaced", type=int, default=0, help="refreshes 0.1 s apart before RSS")
    ap.add_argument("--child", choices=("kiosk", "bare"))
    ap.add_argument("--db")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.db, args.rounds, args.spaced)
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "node.db"
        n = make_db(db)
        bare = run("bare", db, args.rounds, args.spaced, str(Path(tmp) / "kivy"))
        kiosk = run("kiosk", db, args.rounds, args.spaced, str(Path(tmp) / "kivy"))
    print(f"bookings today: {n} (kiosk shows {kiosk['bookings_today']}), {SIZE[0]}x{SIZE[1]}")
    print(f"{'':28} {'kiosk':>10} {'bare Kivy':>10} {'ratio':>7}")
    for key, label, unit in (
        ("first_frame_s", "first frame", 1000),
        ("refresh_s", "refresh Today (median)", 1000),
        ("changing_s", "… data changing (median)", 1000),
        ("peak_rss_mib", "peak RSS", 1),
        ("end_rss_mib", "RSS at the end", 1),
    ):
        k, b = kiosk[key] * unit, bare[key] * unit
        suffix = "ms" if unit == 1000 else "MiB"
        print(f"{label:28} {k:8.1f}{suffix:>2} {b:8.1f}{suffix:>2} {k / b:6.2f}x")
    apart = f", then {args.spaced} changing 0.1 s apart" if args.spaced else ""
    print(f"(RSS at the end: after {2 * args.rounds} refreshes back to back{apart})")


if __name__ == "__main__":
    main()

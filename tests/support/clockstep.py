"""Step a real child process's wall clock, and take its trust away.

``WallClock(directory)`` makes the environment a node process (``hallvakt
door``, ``hallvakt sync``) is started with: the node clock adapter's test
hooks (``sync.replica.clock``: ``HALLVAKT_CLOCK_OFFSET_FILE`` and
``HALLVAKT_CLOCK_DISTRUST_FILE``) pointed at files of this directory.
``step(offset_s)`` moves the process's wall clock to real time + offset at
its next reading, monotonic time untouched, as an NTP step or a wrong RTC
does; ``distrust()`` / ``trust()`` give it the untrusted clock a step leaves
on a real machine (the kernel marks it unsynchronised until NTP is back).

Why not libfaketime: Debian's 0.9.10 with ``FAKETIME_DONT_FAKE_MONOTONIC``
(needed: a real step never moves the monotonic clock) makes Python 3.11's
``time.sleep`` fail with EINVAL (clock_nanosleep with TIMER_ABSTIME), which
kills libosdp's and paho's threads; faking the monotonic clock too would
step every timer, which no real clock step does.

Rules this module guarantees:
- The offset file is replaced atomically (a reader never sees half a line).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sync.replica.clock import DISTRUST_ENV, OFFSET_ENV


class WallClock:
    """See the module docstring."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.offset_file = directory / "clock.offset"
        self.distrust_file = directory / "clock.distrust"
        self.offset_s = 0
        self.step(0)

    def env(self) -> dict[str, str]:
        """What to add to a child's environment."""
        return {OFFSET_ENV: str(self.offset_file), DISTRUST_ENV: str(self.distrust_file)}

    def step(self, offset_s: int) -> None:
        """Set the children's wall clock to real time + ``offset_s`` seconds."""
        tmp = self.offset_file.with_suffix(".tmp")
        tmp.write_text(f"{offset_s:+d}\n", encoding="ascii")
        os.replace(tmp, self.offset_file)
        self.offset_s = offset_s

    def distrust(self) -> None:
        self.distrust_file.touch()

    def trust(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.distrust_file.unlink()

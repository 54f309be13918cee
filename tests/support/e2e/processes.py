"""Child processes and waits for the end-to-end harness.

Guarantees:

- Every wait is ``wait_for``: a condition polled every 20 ms until a deadline
  (``WAIT_S`` unless told), failing at once when a watched ``Daemon`` exits.
- A ``Daemon`` is one child process whose output is appended to its log file
  across starts; every process is reaped by ``stop()``, ``kill()`` or
  ``terminate()`` (a process that ignores SIGTERM is killed, then reported).
- ``run_cli`` and every ``Daemon`` run this interpreter's ``hallvakt``
  (``hallvakt_argv``), so the code under test is the checkout's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from hallvakt.demo.broker.process import signal_and_reap

WAIT_S = 60.0  # generous: a loaded 2-core machine; every wait returns as soon as it can


def hallvakt_argv() -> tuple[str, ...]:
    """The ``hallvakt`` console script of this interpreter's environment (the
    venv's ``.venv/bin/hallvakt``), else ``python -m hallvakt.cli``."""
    script = Path(sys.executable).with_name("hallvakt")
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (sys.executable, "-m", "hallvakt.cli")


def wait_for(
    cond: Callable[[], bool],
    what: str,
    timeout: float = WAIT_S,
    *,
    alive: Iterable[Daemon] = (),
) -> float:
    """Poll ``cond`` every 20 ms until true; return the seconds it took. Raises
    ``AssertionError`` after ``timeout``, or at once when a ``Daemon`` in
    ``alive`` has exited (with the tail of its log)."""
    started = time.monotonic()
    watched = tuple(alive)
    while not cond():
        for d in watched:
            d.check_alive()
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


class Daemon:
    """One child process whose output goes to a log file (appended across starts)."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, cwd: Path) -> None:
        self.name, self.argv, self.log, self.cwd = name, tuple(argv), log, cwd
        self.env: dict[str, str] = {}  # added to the process's environment at start
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.stop()
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"--- e2e: start {self.starts}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL and reap; returns the exit status (-9 if it was running)."""
        return self._signal(signal.SIGKILL, 10.0)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and reap; returns the exit status. A process that ignores it
        for ``timeout`` seconds is killed and ``AssertionError`` raised."""
        return self._signal(signal.SIGTERM, timeout)

    def _signal(self, sig: signal.Signals, timeout: float) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            raise RuntimeError(f"{self.name} was not started")
        try:
            return signal_and_reap(proc, sig, timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} ignored {sig.name} for {timeout} s") from None

    def stop(self) -> None:
        """Kill if running and reap. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with status {self.proc.returncode}:\n{self.tail()}"
            )

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def run_cli(*args: str, cwd: Path) -> str:
    """Run ``hallvakt ARGS`` to completion; return its stdout. Raises
    ``AssertionError`` (with stderr) on a non-zero exit status."""
    done = subprocess.run(
        [*hallvakt_argv(), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise AssertionError(
            f"hallvakt {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        )
    return done.stdout

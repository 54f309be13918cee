"""The demo's child processes: starting them, and stopping all of each.

Rules this module guarantees:
- Children run in sessions (process groups) of their own: Ctrl-C in the
  terminal reaches only the demo, which stops them. ``Child.stop`` sends
  SIGTERM, then SIGKILL to the whole process group after ``STOP_TIMEOUT_S``;
  anything left in a group (a simulator) gets the same.
- The broker runs in a session of its own too, through a ``setsid`` wrapper
  that keeps its pid.
- A zombie (dead, not reaped yet) counts as gone: in a container, init may
  never reap one whose parent died.
- Children run ``hallvakt`` with the Python that runs the demo.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time as clock
from dataclasses import dataclass, field
from pathlib import Path

STOP_TIMEOUT_S = 10.0


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped yet, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


@dataclass(slots=True)
class Child:
    """One process of the demo, in a session (process group) of its own."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str | None] = field(default_factory=dict)  # None: remove the variable
    proc: subprocess.Popen[bytes] | None = None
    reported: bool = False

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={
                    k: v
                    for k, v in {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}.items()
                    if v is not None
                },
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL to the group; then whatever is left in the group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        clear_group(self.proc.pid, timeout)
        return self.proc.returncode


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal every process in group ``pgid`` (0: only ask whether there is one)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def clear_group(pgid: int, timeout: float) -> None:
    """End every process still in group ``pgid``: SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _signal_group(pgid, sig):
            return
        deadline = clock.monotonic() + timeout
        while clock.monotonic() < deadline:
            if not _group_alive(pgid):
                return
            clock.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count: one
    whose parent died waits for init, which in a container may never reap it)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return _signal_group(pgid, 0)
    for name in names:
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def broker_in_own_session(folder: Path) -> str | None:
    """A wrapper that runs mosquitto in a session of its own (``setsid``, which
    does not fork here: the wrapper is no group leader, so the pid stays the
    broker's), so that Ctrl-C reaches only the demo, which stops the broker last.
    None (plain mosquitto) when ``setsid`` or mosquitto is missing."""
    from hallvakt.demo.broker import mosquitto_executable

    setsid, mosquitto = shutil.which("setsid"), mosquitto_executable()
    if setsid is None or mosquitto is None:
        return None
    wrapper = folder / "mosquitto-own-session"
    folder.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(setsid)} {shlex.quote(mosquitto)} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def hallvakt_argv() -> list[str]:
    """How the children run ``hallvakt`` (whatever started this process)."""
    return [sys.executable, "-m", "hallvakt.cli"]

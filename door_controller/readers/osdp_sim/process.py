"""The simulator as a process of its own, and the parent's handle on it.

Rules this module guarantees:
- ``main`` (``python -m door_controller.readers.osdp_sim``) runs simulated
  readers on a new pty pair (or ``--device``) until SIGTERM/SIGINT or op
  ``stop``, serving the control protocol (``control``) on ``--control``. Its
  stdout carries exactly one JSON line, once the control socket listens; all
  else it prints goes to stderr, so a parent reading stdout never blocks it.
  It also stops when its parent dies (it is handed to another parent): a
  door controller killed with SIGKILL leaves no simulator behind.
- ``SimProcess`` starts that child, waits for its line (``SimulatorError`` if
  it does not come in time), and ``close`` always ends the child: op ``stop``,
  then SIGTERM, then SIGKILL. The keys travel on the child's command line: for
  tests and the demo only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import tty
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .control import SimClient, serve
from .device import SimReaderSpec, SimulatedBus, SimulatorError
from .line import pty_pair

DESCRIPTION = "Simulated OSDP readers: libosdp's own peripheral device on one end of a pty."


def _reader_arg(text: str) -> SimReaderSpec:
    """``ADDRESS=KEYHEX`` or ``ADDRESS=@KEYFILE`` (32 hex digits), optional
    ``:INPUTS`` and ``:LEVELS`` (the inputs' raw levels at rest, e.g. ``101``)."""
    address, _, rest = text.partition("=")
    key, _, inputs = rest.partition(":")
    inputs, _, levels = inputs.partition(":")
    if key.startswith("@"):
        key = Path(key[1:]).read_text().strip()
    if levels.strip("01"):
        raise ValueError(f"input levels are 0s and 1s, not {levels!r}")
    rest_levels = tuple(c == "1" for c in levels)
    return SimReaderSpec(int(address), bytes.fromhex(key), int(inputs or 0), rest_levels)


def main(argv: Sequence[str] | None = None) -> int:
    """Run simulated readers until SIGTERM/SIGINT or the ``stop`` op (a process of its own).

    Stdout carries one JSON line once the control socket listens:
    ``{"controller_path": ..., "pid": ...}``; everything else printed (libosdp
    logs on stdout) goes to stderr, so a parent reading stdout never blocks it.
    """
    ap = argparse.ArgumentParser(prog="osdp_sim", description=DESCRIPTION)
    ap.add_argument("--reader", action="append", type=_reader_arg, required=True)
    ap.add_argument("--control", required=True, help="unix socket for the control protocol")
    ap.add_argument("--device", help="tty path of the device end (default: a new pty pair)")
    ap.add_argument("--link", help="make this path a symlink to the controller end of the pty")
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    orphan_watch(stop)
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with contextlib.ExitStack() as stack:
        stack.callback(ready.close)
        if args.device:
            fd = os.open(args.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            stack.callback(os.close, fd)
            tty.setraw(fd)
            controller_path = None
        else:
            pair = stack.enter_context(pty_pair())
            fd, controller_path = pair.device_fd, pair.controller_path
            if args.link:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(args.link)
                os.symlink(controller_path, args.link)
                stack.callback(os.unlink, args.link)
        bus = stack.enter_context(SimulatedBus(fd, args.reader))
        info = {"controller_path": args.link or controller_path, "pid": os.getpid()}

        def announce() -> None:
            ready.write(json.dumps(info) + "\n")
            ready.close()

        serve(bus, args.control, stop, info, announce)
    return 0


def orphan_watch(stop: threading.Event, every_s: float = 0.5) -> threading.Thread:
    """Set ``stop`` once this process's parent has died (its parent pid changes)."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(every_s):
            if os.getppid() != parent:
                stop.set()

    t = threading.Thread(target=watch, name="orphan-watch", daemon=True)
    t.start()
    return t


class SimProcess:
    """A simulator child process (``python -m door_controller.readers.osdp_sim``) on a new pty.

    ``controller_path`` is the tty the controller opens (``link`` if given). The
    keys travel on the child's command line: for tests and the demo only.
    """

    def __init__(
        self,
        readers: Sequence[SimReaderSpec],
        control: str | Path,
        *,
        link: str | Path | None = None,
        timeout: float = 15.0,
    ):
        cmd = [sys.executable, "-m", "door_controller.readers.osdp_sim", "--control", str(control)]
        for r in readers:
            levels = "".join("1" if x else "0" for x in r.rest)
            cmd += ["--reader", f"{r.address}={r.scbk.hex()}:{r.inputs}:{levels}"]
        if link is not None:
            cmd += ["--link", str(link)]
        self.client = SimClient(control)
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        try:
            ready = self._read_ready(timeout)
        except BaseException:
            self.close()
            raise
        self.controller_path: str = ready["controller_path"]
        self.pid: int = ready["pid"]

    def _read_ready(self, timeout: float) -> dict[str, Any]:
        assert self._proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise SimulatorError("the simulator did not start in time")
        line = self._proc.stdout.readline()
        if not line:
            raise SimulatorError(f"the simulator exited with {self._proc.wait()}")
        return dict(json.loads(line))

    def close(self, timeout: float = 10.0) -> int:
        """Stop the child (op ``stop``, then SIGTERM, then SIGKILL); return its exit code."""
        if self._proc.poll() is None:
            with contextlib.suppress(SimulatorError):
                self.client.stop()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        return self._proc.returncode

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())

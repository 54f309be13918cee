"""A private Mosquitto for the demo (and, extended in tests/support/broker.py, for
tests and benchmarks), as a child process.

``PrivateBroker`` writes ``render(config)`` into a directory of its own and
runs ``mosquitto -c FILE``. Guarantees:

- A TCP port given as 0 is picked free on first start (bind to port 0, close,
  hand the number to mosquitto) and picked again if another process wins the
  race; ``restart`` keeps the ports, the socket path and the persistence.
- ``start`` returns only when the broker answers an MQTT 5 CONNECT with a
  CONNACK (any reason code) on its unix socket or TCP port: a raw-socket probe
  (``hallvakt.demo.broker.probe``) repeated every 20 ms, no paho threads, no fixed
  sleeps. A broker that exits instead raises ``BrokerError`` with the tail of
  its log.
- The broker's log (its stderr, plus one line per start from this module) is
  the file ``log_path``; the process is always reaped (``signal_and_reap``,
  which the end-to-end harness's ``Daemon`` shares), and a directory this
  module created is removed by ``stop``.

Mosquitto 2.0.11 facts this relies on (shared FIELD-NOTES.md): ``listener 0
PATH`` is a unix socket; SIGTERM saves the in-memory database, SIGKILL loses
what changed since the last autosave; a stale socket file left by SIGKILL is
replaced on the next start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Self

from .config import BrokerConfig, render
from .probe import probe

_PROBE_INTERVAL = 0.02


class BrokerError(RuntimeError):
    """The broker could not be started, or did not become ready in time."""


def signal_and_reap(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> int:
    """Send ``sig`` to ``proc`` unless it has exited, and reap it; return its exit
    status. A process still running after ``timeout`` seconds is killed and
    reaped, then ``subprocess.TimeoutExpired`` raised for the caller to name."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def mosquitto_executable() -> str | None:
    """The mosquitto binary: on PATH, else Debian's /usr/sbin/mosquitto
    (/usr/sbin is not on an ordinary user's PATH); None if neither."""
    found = shutil.which("mosquitto")
    if found is None and os.access("/usr/sbin/mosquitto", os.X_OK):
        found = "/usr/sbin/mosquitto"
    return found


def mosquitto_available() -> bool:
    """Whether a mosquitto binary can be run."""
    return mosquitto_executable() is not None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bound to port 0, then closed).
    Another process may take it before the broker binds: ``PrivateBroker`` retries."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


class PrivateBroker:
    """A mosquitto child process with its config, socket, persistence and log in
    one directory. Use as a context manager, or call ``start`` and ``stop``.

    ``directory`` None makes a fresh short temp directory (unix socket paths are
    limited to 107 bytes) that ``stop`` removes; a given directory is kept."""

    def __init__(
        self,
        config: BrokerConfig | None = None,
        *,
        directory: Path | None = None,
        executable: str | None = None,
        ready_timeout: float = 10.0,
        port_attempts: int = 5,
    ) -> None:
        exe = executable or mosquitto_executable()
        if exe is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self._exe = exe
        self._template = config or BrokerConfig()
        if self._template.unix_socket is None and self._template.tcp_port is None:
            raise ValueError(
                "a PrivateBroker needs a unix socket or a plain TCP listener: "
                "its readiness probe speaks plain MQTT"
            )
        self._owns_directory = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="hv-mqtt-")) if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = self._resolve(self._template)
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "broker.log"
        self.ready_timeout = ready_timeout
        self._port_attempts = port_attempts
        self._proc: subprocess.Popen[bytes] | None = None
        self._starts = 0
        self._log_offset = 0  # where the current run's lines begin in the log
        self._stopped = False

    # -- where it is ---------------------------------------------------------

    @property
    def unix_socket(self) -> Path | None:
        return self.config.unix_socket

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        c = self.config
        return None if c.tcp_port is None else (c.tcp_host, c.tcp_port)

    @property
    def persistence_file(self) -> Path | None:
        """Mosquitto's database file (it may not exist before the first save)."""
        loc = self.config.persistence_location
        return None if loc is None else loc / "mosquitto.db"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self, *, current_run: bool = False) -> str:
        """The broker's log so far, or only since the latest start ("" before
        the first start)."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        return data[self._log_offset if current_run else 0 :].decode("utf-8", "replace")

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        """Start the broker and wait until it answers. Raises ``BrokerError``."""
        if self._stopped:
            raise BrokerError("this broker was stopped; make a new PrivateBroker")
        if self.running:
            raise BrokerError(f"the broker is already running (pid {self.pid})")
        auto_ports = self._starts == 0 and self._picks_ports(self._template)
        for attempt in range(1, self._port_attempts + 1):
            self._spawn()
            try:
                self.wait_ready(self.ready_timeout)
                return self
            except BrokerError:
                if not (auto_ports and self._port_conflict() and attempt < self._port_attempts):
                    raise
            self.config = self._resolve(self._template)  # new free ports; try again
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float) -> int:
        """Probe until the broker answers a CONNACK; return its reason code.
        Raises ``BrokerError`` if the process exits or ``timeout`` passes."""
        proc = self._proc
        if proc is None:
            raise BrokerError("the broker was never started")
        address: Path | tuple[str, int]
        if self.config.unix_socket is not None:
            address = self.config.unix_socket
        else:
            assert self.config.tcp_port is not None
            address = (self.config.tcp_host, self.config.tcp_port)
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            code = proc.poll()
            if code is not None:
                self._proc = None
                raise BrokerError(f"mosquitto exited with status {code}{self._log_tail()}")
            try:
                return probe(address, timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except OSError as exc:  # not listening yet (ConnectionError is an OSError)
                last = exc
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"mosquitto (pid {proc.pid}) did not answer on {address} within "
                    f"{timeout} s: {last!r}{self._log_tail()}"
                )
            time.sleep(_PROBE_INTERVAL)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM: mosquitto saves its database and exits. Returns the exit
        status; raises ``BrokerError`` (after a SIGKILL) if it hangs."""
        return self.end(signal.SIGTERM, timeout=timeout)

    def restart(self) -> Self:
        """Stop gracefully if running, then start again with the same config,
        ports, socket and persistence directory."""
        if self.running:
            self.terminate()
        return self.start()

    def stop(self) -> None:
        """Terminate if running and reap the process; remove the directory if this
        broker made it. Idempotent; the broker cannot be started again."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._proc is not None:
                self.terminate()
        finally:
            if self._owns_directory:
                shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------

    def _picks_ports(self, cfg: BrokerConfig) -> bool:
        """Whether ``cfg`` asks for a free port (0) anywhere."""
        return cfg.tcp_port == 0

    def _path(self, p: Path) -> Path:
        return p if p.is_absolute() else self.directory / p

    def _resolve(self, cfg: BrokerConfig) -> BrokerConfig:
        """Relative paths against the directory; port 0 to a free port."""
        path = self._path
        return replace(
            cfg,
            unix_socket=None if cfg.unix_socket is None else path(cfg.unix_socket),
            tcp_port=cfg.tcp_port if cfg.tcp_port != 0 else free_port(cfg.tcp_host),
            acl_file=None if cfg.acl_file is None else path(cfg.acl_file),
            persistence_location=(
                None if cfg.persistence_location is None else path(cfg.persistence_location)
            ),
        )

    def _spawn(self) -> None:
        if self.config.persistence_location is not None:
            self.config.persistence_location.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render(self.config), encoding="utf-8")
        self._starts += 1
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            header = f"--- broker: start {self._starts}: {self._exe} -c {self.config_path}"
            log.write(header.encode() + b"\n")
            log.flush()
            self._proc = subprocess.Popen(
                [self._exe, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )

    def end(self, sig: signal.Signals, timeout: float) -> int:
        """Send ``sig`` and reap the broker; return its exit status. Raises
        ``BrokerError`` (after a SIGKILL) if it outlives ``timeout``."""
        proc = self._proc
        if proc is None:
            raise BrokerError("the broker is not running")
        self._proc = None
        try:
            return signal_and_reap(proc, sig, timeout)
        except subprocess.TimeoutExpired:
            raise BrokerError(
                f"mosquitto (pid {proc.pid}) ignored {sig.name} for {timeout} s; killed"
            ) from None

    def _port_conflict(self) -> bool:
        return "Address already in use" in self.log_text(current_run=True)

    def _log_tail(self, lines: int = 20) -> str:
        tail = self.log_text(current_run=True).splitlines()[-lines:]
        return f"; log {self.log_path}:\n" + "\n".join(tail) if tail else ""

"""Central's gateways as real processes (``hallvakt central --config``), for tests and the bench.

- ``write_config``: a central.toml for one gateway identity (``central-N``)
  on a store URL and a broker (unix socket or loopback TCP), with the
  signing key written beside it (0600).
- ``Gateway``: one ``hallvakt central`` process with its log file; ``kill``
  sends SIGKILL (nothing is flushed, nothing acknowledged after it),
  ``stop`` SIGTERM and waits; ``rss_kib``/``peak_rss_kib``/``cpu_s`` read
  /proc for the bench.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_config.secrets import encode_node_key, write_secret


def hallvakt() -> str:
    """The ``hallvakt`` console script of this interpreter's environment."""
    return str(Path(sys.executable).parent / "hallvakt")


def write_config(
    directory: Path,
    *,
    store: str,
    broker_url: str,
    client_id: str,
    key: Ed25519PrivateKey,
    kid: str = "central-1",
    leave_shared_on_stop: bool = True,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / "central.key"
    if not key_path.exists():
        write_secret(key_path, encode_node_key(key))
    cfg = directory / f"{client_id}.toml"
    cfg.write_text(
        f'store = "{store}"\n[signing]\nkey = "central.key"\nkid = "{kid}"\n'
        f'[broker]\nurl = "{broker_url}"\nclient_id = "{client_id}"\n'
        f"leave_shared_on_stop = {'true' if leave_shared_on_stop else 'false'}\n",
        encoding="utf-8",
    )
    return cfg


def _proc(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    return _proc(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    return _proc(pid, "VmHWM")


class Gateway:
    """One gateway process (module docstring)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log_path = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Gateway:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [hallvakt(), "central", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def connections(self) -> int:
        """How many times its log says it connected to the broker."""
        return self.log().count("hallvakt.central.link INFO connected")

    def wait_connected(self, timeout: float = 10.0, count: int = 1) -> None:
        """Until its log shows its ``count``-th connection to the broker."""
        deadline = time.monotonic() + timeout
        while self.connections() < count:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"gateway exited {self.proc.returncode}:\n{self.log()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway not connected in {timeout} s:\n{self.log()[-2000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: the process dies wherever it is."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 10 s); the exit status. Idempotent."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

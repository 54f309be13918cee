"""A private Mosquitto broker for tests, the demo and benchmarks.

``BrokerConfig`` describes a broker; ``render`` turns it into a mosquitto.conf
text; ``PrivateBroker`` writes that text into a directory of its own and runs
``mosquitto -c FILE`` as a child process. Guarantees:

- The broker only listens where the config says: a unix socket and/or a TCP
  port on loopback (plain MQTT, PROTOCOL.md §2 allows it for tests and demos),
  and optionally a TLS listener that requires client certificates, takes the
  certificate CN as the MQTT user name (``use_identity_as_username``) and the
  user name as the client id (``use_username_as_clientid``), as in production
  (deploy/mosquitto/production.conf): a client can only ever hold the session
  named after its own certificate.
- The limits and the autosave interval default to production's
  (``MAX_PACKET_SIZE``, ``MAX_QUEUED_MESSAGES``, ``MAX_QUEUED_BYTES``,
  ``PERSISTENT_CLIENT_EXPIRATION``, ``AUTOSAVE_INTERVAL``); a test checks that
  deploy/mosquitto/production.conf and local.conf say the same.
- A TCP port given as 0 is picked free on first start (bind to port 0, close,
  hand the number to mosquitto) and picked again if another process wins the
  race; ``restart`` keeps the ports, the socket path and the persistence.
- ``start`` returns only when the broker answers an MQTT 5 CONNECT with a
  CONNACK (any reason code) on its unix socket or TCP port: a raw-socket probe
  repeated every 20 ms, no paho threads, no fixed sleeps. A broker that exits instead raises
  ``BrokerError`` with the tail of its log.
- The broker's log (its stderr, plus one line per start from this module) is
  the file ``log_path``; the process is always reaped, and a directory this
  module created is removed by ``stop``.

Mosquitto 2.0.11 facts this relies on (shared FIELD-NOTES.md): ``listener 0
PATH`` is a unix socket; run as root it drops to user ``mosquitto`` and then
cannot write the persistence directory unless the config says ``user root``
(which has no effect when not run as root, so it is always written here);
SIGTERM saves the in-memory database, SIGKILL loses what changed since the last
autosave; a stale socket file left by SIGKILL is replaced on the next start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "AUTOSAVE_INTERVAL",
    "MAX_PACKET_SIZE",
    "MAX_PAYLOAD",
    "MAX_QUEUED_BYTES",
    "MAX_QUEUED_MESSAGES",
    "PERSISTENT_CLIENT_EXPIRATION",
    "BrokerConfig",
    "BrokerError",
    "PrivateBroker",
    "TlsListener",
    "free_port",
    "mosquitto_available",
    "mosquitto_executable",
    "probe",
    "render",
]

# PROTOCOL.md §2: at most 256 KiB of payload (the JWS text). Mosquitto's
# max_packet_size counts the whole packet: fixed header (≤ 5 bytes), topic
# (≤ 2 + 90 bytes for a 64-character node id), packet id and properties. 4 KiB
# of headroom covers them with room for a few user properties.
MAX_PAYLOAD = 256 * 1024
MAX_PACKET_SIZE = MAX_PAYLOAD + 4 * 1024
# A week offline (deploy/mosquitto/README.md "Sizing"): per client, beyond the
# in-flight window; whichever limit is hit first drops further QoS 1 messages
# for that client (the protocol recovers: cursor, resend after a timeout).
MAX_QUEUED_MESSAGES = 10_000
MAX_QUEUED_BYTES = 32 * 1024 * 1024
# Caps every session's expiry, the client's own Session Expiry Interval included
# (Mosquitto 2.0.11 takes the smaller of the two).
PERSISTENT_CLIENT_EXPIRATION = "14d"
# Seconds between saves of the in-memory database. A crash (SIGKILL, OOM, power
# loss) loses what changed since the last save; SIGTERM saves. Mosquitto 2.0.11
# saves when more than this many whole seconds have passed, so every N + 1 s.
AUTOSAVE_INTERVAL = 60

_SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes with the final NUL
_PROBE_INTERVAL = 0.02
_CONNACK = 0x20


class BrokerError(RuntimeError):
    """The broker could not be started, or did not become ready in time."""


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A TLS listener on loopback. Relative paths are taken relative to the
    broker's directory; ``port`` 0 means "pick a free one"."""

    cafile: Path
    certfile: Path
    keyfile: Path
    port: int = 0
    host: str = "127.0.0.1"
    require_certificate: bool = True
    use_identity_as_username: bool = True
    # The session is the CN's, whatever client id the client sent
    # (deploy/mosquitto/README.md, "Client ids").
    use_username_as_clientid: bool = True
    tls_version: str = "tlsv1.2"  # the minimum version in Mosquitto 2.0


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """What a private broker listens on and how it behaves.

    Paths may be relative: ``PrivateBroker`` resolves them against its own
    directory (``render`` needs them absolute). ``tcp_port`` None means no plain
    TCP listener, 0 a free port; ``persistence_location`` None turns persistence
    off. ``autosave_interval`` is in seconds unless ``autosave_on_changes``, then
    it counts changes (Mosquitto's meaning of both)."""

    unix_socket: Path | None = Path("mqtt.sock")
    tcp_port: int | None = 0
    tcp_host: str = "127.0.0.1"
    tls: TlsListener | None = None
    allow_anonymous: bool = True
    acl_file: Path | None = None
    persistence_location: Path | None = Path("persistence")
    autosave_interval: int = AUTOSAVE_INTERVAL
    autosave_on_changes: bool = False
    max_packet_size: int = MAX_PACKET_SIZE
    max_queued_messages: int = MAX_QUEUED_MESSAGES
    max_queued_bytes: int = MAX_QUEUED_BYTES
    persistent_client_expiration: str | None = PERSISTENT_CLIENT_EXPIRATION
    log_types: tuple[str, ...] = ("error", "warning", "notice", "information")


def _absolute(path: Path, what: str) -> str:
    if not path.is_absolute():
        raise ValueError(f"{what} must be an absolute path, not {str(path)!r}")
    text = str(path)
    if any(c in text for c in "\n\r"):
        raise ValueError(f"{what} must not contain a line break: {text!r}")
    return text


def _port(port: int, what: str) -> str:
    if not 1 <= port <= 65535:
        raise ValueError(f"{what} must be a port in 1..65535 (resolve 0 first), not {port}")
    return str(port)


def render(cfg: BrokerConfig) -> str:
    """The mosquitto.conf text for ``cfg``. Raises ``ValueError`` for a relative
    path, an unresolved (0) or invalid port, a unix socket path too long for
    ``sockaddr_un``, or a config with no listener at all."""
    if cfg.unix_socket is None and cfg.tcp_port is None and cfg.tls is None:
        raise ValueError("a broker needs at least one listener")
    g = [
        "# Rendered by sync/broker.py for a private broker (tests, demo, benches).",
        "# 'user root' keeps a broker started as root able to write its persistence",
        "# directory; it has no effect when mosquitto is not started as root.",
        "user root",
        "per_listener_settings false",
        f"allow_anonymous {str(cfg.allow_anonymous).lower()}",
    ]
    if cfg.acl_file is not None:
        g.append(f"acl_file {_absolute(cfg.acl_file, 'acl_file')}")
    if cfg.persistence_location is None:
        g.append("persistence false")
    else:
        location = _absolute(cfg.persistence_location, "persistence_location")
        g += [
            "persistence true",
            f"persistence_location {location}",  # mosquitto adds the "/"
            f"autosave_interval {cfg.autosave_interval}",
            f"autosave_on_changes {str(cfg.autosave_on_changes).lower()}",
        ]
    if cfg.persistent_client_expiration is not None:
        g.append(f"persistent_client_expiration {cfg.persistent_client_expiration}")
    g += [
        f"max_packet_size {cfg.max_packet_size}",
        f"max_queued_messages {cfg.max_queued_messages}",
        f"max_queued_bytes {cfg.max_queued_bytes}",
        "log_dest stderr",
        *(f"log_type {t}" for t in cfg.log_types),
        "log_timestamp true",
        "connection_messages true",
        "",
    ]
    if cfg.unix_socket is not None:
        path = _absolute(cfg.unix_socket, "unix_socket")
        if len(os.fsencode(path)) > _SUN_PATH_MAX:
            raise ValueError(f"unix socket path longer than {_SUN_PATH_MAX} bytes: {path}")
        g.append(f"listener 0 {path}")
    if cfg.tcp_port is not None:
        g.append(f"listener {_port(cfg.tcp_port, 'tcp_port')} {cfg.tcp_host}")
    if cfg.tls is not None:
        t = cfg.tls
        g += [
            f"listener {_port(t.port, 'tls.port')} {t.host}",
            f"cafile {_absolute(t.cafile, 'tls.cafile')}",
            f"certfile {_absolute(t.certfile, 'tls.certfile')}",
            f"keyfile {_absolute(t.keyfile, 'tls.keyfile')}",
            f"require_certificate {str(t.require_certificate).lower()}",
            f"use_identity_as_username {str(t.use_identity_as_username).lower()}",
            f"use_username_as_clientid {str(t.use_username_as_clientid).lower()}",
            f"tls_version {t.tls_version}",
        ]
    return "\n".join(g) + "\n"


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


# --- readiness probe: one MQTT 5 CONNECT, one CONNACK (MQTT 5.0 §3.1, §3.2) ---


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _connect_packet(client_id: str) -> bytes:
    cid = client_id.encode("utf-8")
    variable = (
        b"\x00\x04MQTT"  # protocol name
        + b"\x05"  # protocol level: MQTT 5
        + b"\x02"  # connect flags: clean start, no will, no user name
        + b"\x00\x0a"  # keep alive: 10 s
        + b"\x00"  # no properties
    )
    payload = len(cid).to_bytes(2, "big") + cid
    return b"\x10" + _varint(len(variable) + len(payload)) + variable + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection before a CONNACK")
        data += chunk
    return bytes(data)


def probe(address: Path | tuple[str, int], timeout: float = 2.0) -> int:
    """Send an MQTT 5 CONNECT to a unix socket path or a (host, port) and
    return the CONNACK reason code (0 = accepted; 0x87 = not authorized…).
    Raises ``OSError`` (``ConnectionRefusedError``, ``FileNotFoundError``,
    ``TimeoutError``…) when nothing answers, ``ConnectionError`` when the peer
    closes or answers with something other than a CONNACK."""
    family = socket.AF_UNIX if isinstance(address, Path) else socket.AF_INET
    target: str | tuple[str, int] = str(address) if isinstance(address, Path) else address
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(target)
        sock.sendall(_connect_packet(f"hallvakt-probe-{secrets.token_hex(4)}"))
        kind = _recv_exact(sock, 1)[0]
        if kind >> 4 != _CONNACK >> 4:
            raise ConnectionError(f"expected a CONNACK, got packet type {kind >> 4}")
        length = 0
        for shift in range(0, 28, 7):
            byte = _recv_exact(sock, 1)[0]
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        body = _recv_exact(sock, length)
        if len(body) < 2:
            raise ConnectionError("a CONNACK shorter than 2 bytes")
        reason = body[1]
        if reason == 0:
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT, normal disconnection
        return reason


# --- the process ---------------------------------------------------------------


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
    def tls_address(self) -> tuple[str, int] | None:
        t = self.config.tls
        return None if t is None else (t.host, t.port)

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
        t = self._template
        auto_ports = self._starts == 0 and (
            t.tcp_port == 0 or (t.tls is not None and not t.tls.port)
        )
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

    def kill(self) -> int:
        """SIGKILL: a crash. The broker loses what changed since its last
        autosave. Returns the exit status (negative signal number)."""
        return self._signal(signal.SIGKILL, timeout=10.0)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM: mosquitto saves its database and exits. Returns the exit
        status; raises ``BrokerError`` (after a SIGKILL) if it hangs."""
        return self._signal(signal.SIGTERM, timeout=timeout)

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

    def _resolve(self, cfg: BrokerConfig) -> BrokerConfig:
        """Relative paths against the directory; port 0 to a free port."""

        def path(p: Path) -> Path:
            return p if p.is_absolute() else self.directory / p

        tls = cfg.tls
        if tls is not None:
            tls = replace(
                tls,
                cafile=path(tls.cafile),
                certfile=path(tls.certfile),
                keyfile=path(tls.keyfile),
                port=tls.port or free_port(tls.host),
            )
        return replace(
            cfg,
            unix_socket=None if cfg.unix_socket is None else path(cfg.unix_socket),
            tcp_port=cfg.tcp_port if cfg.tcp_port != 0 else free_port(cfg.tcp_host),
            tls=tls,
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
            header = f"--- sync/broker.py: start {self._starts}: {self._exe} -c {self.config_path}"
            log.write(header.encode() + b"\n")
            log.flush()
            self._proc = subprocess.Popen(
                [self._exe, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )

    def _signal(self, sig: signal.Signals, timeout: float) -> int:
        proc = self._proc
        if proc is None:
            raise BrokerError("the broker is not running")
        self._proc = None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BrokerError(
                f"mosquitto (pid {proc.pid}) ignored {sig.name} for {timeout} s; killed"
            ) from None

    def _port_conflict(self) -> bool:
        return "Address already in use" in self.log_text(current_run=True)

    def _log_tail(self, lines: int = 20) -> str:
        tail = self.log_text(current_run=True).splitlines()[-lines:]
        return f"; log {self.log_path}:\n" + "\n".join(tail) if tail else ""

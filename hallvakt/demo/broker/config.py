"""What a private Mosquitto listens on, and its mosquitto.conf text.

``BrokerConfig`` describes a broker; ``render`` turns it into a mosquitto.conf
text. Guarantees:

- The broker only listens where the config says: a unix socket and/or a TCP
  port on loopback (plain MQTT, PROTOCOL.md §2 allows it for tests and demos).
  ``BrokerConfig.listeners`` gives those lines; the tests add production's TLS
  listener by extending it (tests/support/broker.py).
- The limits and the autosave interval default to production's
  (``MAX_PACKET_SIZE``, ``MAX_QUEUED_MESSAGES``, ``MAX_QUEUED_BYTES``,
  ``PERSISTENT_CLIENT_EXPIRATION``, ``AUTOSAVE_INTERVAL``); a test checks that
  deploy/mosquitto/production.conf and local.conf say the same.
- ``render`` writes only absolute paths without line breaks, real ports
  (1..65535) and unix socket paths that fit ``sockaddr_un``; anything else
  raises ``ValueError`` rather than producing a config mosquitto would read
  differently. It always writes ``user root`` (Mosquitto 2.0.11, shared
  FIELD-NOTES.md: run as root it drops to user ``mosquitto`` and then cannot
  write the persistence directory; the line has no effect when not run as root).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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

    def listeners(self) -> list[str]:
        """The listener lines of mosquitto.conf (a subclass may add listeners:
        the tests' TLS listener, tests/support/broker.py). Raises ``ValueError``
        as ``render`` says."""
        g: list[str] = []
        if self.unix_socket is not None:
            path = conf_path(self.unix_socket, "unix_socket")
            if len(os.fsencode(path)) > _SUN_PATH_MAX:
                raise ValueError(f"unix socket path longer than {_SUN_PATH_MAX} bytes: {path}")
            g.append(f"listener 0 {path}")
        if self.tcp_port is not None:
            g.append(f"listener {conf_port(self.tcp_port, 'tcp_port')} {self.tcp_host}")
        return g


def conf_path(path: Path, what: str) -> str:
    """``path`` for mosquitto.conf; raises ``ValueError`` unless absolute, on one line."""
    if not path.is_absolute():
        raise ValueError(f"{what} must be an absolute path, not {str(path)!r}")
    text = str(path)
    if any(c in text for c in "\n\r"):
        raise ValueError(f"{what} must not contain a line break: {text!r}")
    return text


def conf_port(port: int, what: str) -> str:
    """``port`` for mosquitto.conf; raises ``ValueError`` unless in 1..65535."""
    if not 1 <= port <= 65535:
        raise ValueError(f"{what} must be a port in 1..65535 (resolve 0 first), not {port}")
    return str(port)


def render(cfg: BrokerConfig) -> str:
    """The mosquitto.conf text for ``cfg``. Raises ``ValueError`` for a relative
    path, an unresolved (0) or invalid port, a unix socket path too long for
    ``sockaddr_un``, or a config with no listener at all."""
    listeners = cfg.listeners()
    if not listeners:
        raise ValueError("a broker needs at least one listener")
    g = [
        "# Rendered by hallvakt/demo/broker/config.py for a private broker (tests, demo, benches).",
        "# 'user root' keeps a broker started as root able to write its persistence",
        "# directory; it has no effect when mosquitto is not started as root.",
        "user root",
        "per_listener_settings false",
        f"allow_anonymous {str(cfg.allow_anonymous).lower()}",
    ]
    if cfg.acl_file is not None:
        g.append(f"acl_file {conf_path(cfg.acl_file, 'acl_file')}")
    if cfg.persistence_location is None:
        g.append("persistence false")
    else:
        location = conf_path(cfg.persistence_location, "persistence_location")
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
    g += listeners
    return "\n".join(g) + "\n"

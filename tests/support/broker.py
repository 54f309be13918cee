"""The demo's private Mosquitto with what only tests and benchmarks use.

``hallvakt.demo.broker`` ships the broker the demo runs: a unix socket and/or
plain TCP on loopback, production's limits. Tests also need production's TLS
listener and a crash, so this module extends it:

- ``TlsListener``: a TLS listener on loopback that requires client
  certificates (and refuses those on its ``crlfile``, if given), takes the
  certificate CN as the MQTT user name (``use_identity_as_username``) and
  the user name as the client id (``use_username_as_clientid``), as
  deploy/mosquitto/production.conf does: a client can only ever hold the
  session named after its own certificate.
- ``BrokerConfig``: the demo's config plus an optional ``tls`` listener, whose
  lines ``render`` writes after the others (absolute paths, real ports).
- ``PrivateBroker``: the demo's broker plus ``tls_address`` (a TLS port of 0 is
  picked free, as the TCP port is) and ``kill`` (SIGKILL: a crash).

The other names of ``hallvakt.demo.broker`` are offered here too, so that a
test imports its broker from one place.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from pathlib import Path

from hallvakt.demo import broker as demo
from hallvakt.demo.broker import (
    AUTOSAVE_INTERVAL,
    MAX_PACKET_SIZE,
    MAX_PAYLOAD,
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
    PERSISTENT_CLIENT_EXPIRATION,
    BrokerError,
    conf_path,
    conf_port,
    free_port,
    mosquitto_available,
    mosquitto_executable,
    probe,
    render,
)

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


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A TLS listener on loopback (module docstring). Relative paths are taken
    relative to the broker's directory; ``port`` 0 means "pick a free one"."""

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
    # The client CA's revocation list (PEM), as production.conf's commented
    # ``crlfile``: Mosquitto refuses the handshake of a revoked certificate.
    crlfile: Path | None = None

    def lines(self) -> list[str]:
        """Its mosquitto.conf lines; raises ``ValueError`` as ``render`` does."""
        crl = [] if self.crlfile is None else [f"crlfile {conf_path(self.crlfile, 'tls.crlfile')}"]
        return [
            f"listener {conf_port(self.port, 'tls.port')} {self.host}",
            f"cafile {conf_path(self.cafile, 'tls.cafile')}",
            f"certfile {conf_path(self.certfile, 'tls.certfile')}",
            f"keyfile {conf_path(self.keyfile, 'tls.keyfile')}",
            f"require_certificate {str(self.require_certificate).lower()}",
            f"use_identity_as_username {str(self.use_identity_as_username).lower()}",
            f"use_username_as_clientid {str(self.use_username_as_clientid).lower()}",
            f"tls_version {self.tls_version}",
            *crl,
        ]


@dataclass(frozen=True, slots=True)
class BrokerConfig(demo.BrokerConfig):
    """The demo's ``BrokerConfig`` with an optional TLS listener."""

    tls: TlsListener | None = None

    def listeners(self) -> list[str]:
        plain = demo.BrokerConfig.listeners(self)
        return plain if self.tls is None else [*plain, *self.tls.lines()]


class PrivateBroker(demo.PrivateBroker):
    """The demo's broker, with a TLS listener and crashes (module docstring)."""

    @property
    def tls_address(self) -> tuple[str, int] | None:
        tls = getattr(self.config, "tls", None)
        return None if tls is None else (tls.host, tls.port)

    def kill(self) -> int:
        """SIGKILL: a crash. The broker loses what changed since its last
        autosave. Returns the exit status (negative signal number)."""
        return self.end(signal.SIGKILL, timeout=10.0)

    def _picks_ports(self, cfg: demo.BrokerConfig) -> bool:
        tls = getattr(cfg, "tls", None)
        return super()._picks_ports(cfg) or (tls is not None and not tls.port)

    def _resolve(self, cfg: demo.BrokerConfig) -> demo.BrokerConfig:
        resolved = super()._resolve(cfg)
        tls = getattr(resolved, "tls", None)
        if tls is None:
            return resolved
        path = self._path
        tls = replace(
            tls,
            cafile=path(tls.cafile),
            certfile=path(tls.certfile),
            keyfile=path(tls.keyfile),
            crlfile=None if tls.crlfile is None else path(tls.crlfile),
            port=tls.port or free_port(tls.host),
        )
        return replace(resolved, tls=tls)  # type: ignore[call-arg]

"""The demo's private Mosquitto broker (tests/support/broker.py extends it with
production's TLS listener and crashes, for tests and benchmarks).

- ``hallvakt.demo.broker.config``: ``BrokerConfig`` and ``render``,
  the mosquitto.conf text (where it listens, production's limits).
- ``hallvakt.demo.broker.process``: ``PrivateBroker``, the mosquitto child process
  (free ports, readiness, log, reaping), and finding the binary.
- ``hallvakt.demo.broker.probe``: the readiness probe, one MQTT 5 CONNECT and CONNACK
  in raw bytes.

Each module states what it guarantees. Import from here: the names below are
the package's interface.
"""

from __future__ import annotations

from .config import (
    AUTOSAVE_INTERVAL,
    MAX_PACKET_SIZE,
    MAX_PAYLOAD,
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
    PERSISTENT_CLIENT_EXPIRATION,
    BrokerConfig,
    conf_path,
    conf_port,
    render,
)
from .probe import probe
from .process import (
    BrokerError,
    PrivateBroker,
    free_port,
    mosquitto_available,
    mosquitto_executable,
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
    "conf_path",
    "conf_port",
    "free_port",
    "mosquitto_available",
    "mosquitto_executable",
    "probe",
    "render",
]

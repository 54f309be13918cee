"""End-to-end harness: central's gateway and node links as real child processes.

Used by tests/system/test_sync_*.py and bench/sync_link.py (test modules cannot
import each other under ``--import-mode=importlib``, so the shared parts live
here, in tests/support/, outside the shipped packages).

- ``processes``: ``Daemon`` (a child process and its log), ``run_cli``,
  ``wait_for`` (every wait: a condition polled every 20 ms with a deadline).
- ``sites``: ``CentralSite`` and ``NodeSite`` (files, CLI, gateway and link
  processes, read-only queries on central's store), ``BrokerAccess``,
  ``demo_system`` and ``one_node_system`` (one node, stopped on leaving);
  ``first_sync`` (central and the link started, the first snapshot applied).
- ``node_events``: ``EventWriter`` and ``append_events``, the node's committed
  events, and ``exactly_once``, which compares them with central's store.
- ``peer``: ``Peer``, a paho MQTT 5 client whose callbacks only fill queues.

Every process is reaped by ``stop()``; every client closed by ``close()``.
Import from here: the names below are the harness's interface.
"""

from __future__ import annotations

from .node_events import EventWriter, append_events, event_body, exactly_once
from .peer import Heard, Peer
from .processes import WAIT_S, Daemon, hallvakt_argv, run_cli, wait_for
from .sites import (
    BROKER_LOG_TYPES,
    FACILITY,
    BrokerAccess,
    CentralSite,
    NodeSite,
    demo_system,
    first_sync,
    one_node_system,
)

__all__ = [
    "BROKER_LOG_TYPES",
    "FACILITY",
    "WAIT_S",
    "BrokerAccess",
    "CentralSite",
    "Daemon",
    "EventWriter",
    "Heard",
    "NodeSite",
    "Peer",
    "append_events",
    "demo_system",
    "event_body",
    "exactly_once",
    "first_sync",
    "hallvakt_argv",
    "one_node_system",
    "run_cli",
    "wait_for",
]

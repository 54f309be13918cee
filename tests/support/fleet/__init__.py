"""A fleet of simulated facility nodes that speak PROTOCOL.md, for tests and ``bench/fleet.py``.

- ``node.SimNode``: one node in memory (sans-I/O): signed hello, events,
  cursors and status; central's messages gated and applied to an in-memory
  replica; acks clear its outbox.
- ``runner.Fleet``: the nodes over real MQTT, one aiomqtt client identity each.
- ``make_nodes`` and ``register``: keys for n nodes and their registration
  in central's store (one write transaction); ``seed``: a facility's records
  and its nodes registered.
- ``processes``: central's gateways as real processes (``hallvakt central``).
- ``cgroup.CpuQuota``: a process held to a fixed share of a core (a cgroup v1
  cpu group), as a container's CPU limit holds a gateway in production.

Kept in tests/support (not in the shipped packages): the bench imports it
from the repository root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.central import changelog as cl
from sync.central import nodes
from sync.central.store import Store
from sync.protocol.timeutil import from_ts
from sync.protocol.wire import Op

from .node import SimNode
from .runner import Broker, Fleet


def make_nodes(
    n: int, central_keys: Mapping[str, Ed25519PublicKey], prefix: str = "sim", **kw: object
) -> list[SimNode]:
    """``n`` nodes ``{prefix}.n00001``... with fresh keys, pinning ``central_keys``."""
    out = []
    for i in range(1, n + 1):
        key = Ed25519PrivateKey.generate()
        out.append(SimNode(f"{prefix}.n{i:05d}", key, f"k{i}", central_keys, **kw))  # type: ignore[arg-type]
    return out


def register(store: Store, sims: list[SimNode], facility: str, now: int) -> None:
    """Register every node's key for ``facility`` in one transaction."""
    with store.write():
        for s in sims:
            raw = s.key.public_key().public_bytes_raw()
            nodes.register_node(store, s.node, facility, raw, s.kid, from_ts(now))


def seed(
    store: Store, facility: str, ops: Sequence[Op], sims: list[SimNode], now: datetime
) -> None:
    """``facility``'s records (``ops``, central's changelog) and every node of
    ``sims`` registered for it."""
    cl.mutate(store, facility, ops, now)
    register(store, sims, facility, int(now.timestamp()))


__all__ = ["Broker", "Fleet", "SimNode", "make_nodes", "register", "seed"]

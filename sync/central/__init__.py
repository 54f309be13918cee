"""The reference central gateway (PROTOCOL.md, docs/central.md): the other end of the sync contract.

- ``db``: central's SQLite database (WAL, ``synchronous=FULL``, migrations).
- ``changelog``: current state per facility, ``mutate`` and the change log.
- ``feed``: what brings a node up to date: ``changes`` batches or a chunked
  ``snapshot`` (pure).
- ``nodes``: the node registry and keys, node state, dropped messages, commands.
- ``events``: the event store, ``through``, walk-in verdicts.
- ``leases``: walk-in windows, lease renewal, central bookings (``book``).
- ``gateway``: ``Central``, the protocol engine: received messages in,
  messages to publish out, no I/O of its own.
- ``link``: the paho MQTT edge (one thread owns the client).
- ``config``: central.toml. ``importer``: import files. ``admin``: the
  ``hallvakt central`` command.
"""

from .changelog import MutateError, Revs, delete, mutate, mutate_chunked, upsert, upsert_wire
from .db import Store, StoreError
from .events import store_events
from .feed import Plan, Signer, plan
from .gateway import Central, Settings
from .leases import BookingRefused, book, renew_leases, set_walkin_windows
from .nodes import RegistryError, queue_command, register_node

__all__ = [
    "BookingRefused",
    "Central",
    "MutateError",
    "Plan",
    "RegistryError",
    "Revs",
    "Settings",
    "Signer",
    "Store",
    "StoreError",
    "book",
    "delete",
    "mutate",
    "mutate_chunked",
    "plan",
    "queue_command",
    "register_node",
    "renew_leases",
    "set_walkin_windows",
    "store_events",
    "upsert",
    "upsert_wire",
]

"""The demo without central: when it runs offline, and the node's data then.

Rules this module guarantees:
- The demo runs offline with ``--offline`` or when mosquitto is not installed:
  then there is no broker, central gateway or sync, and ``offline_reason``
  says which of the two it was.
- Central's demo data is still made (the same ``setup``) and copied straight
  into the node database, but no head from central is recorded, because none
  was verified. The door then follows PROTOCOL.md §7 for a node that never
  heard from central: staff grants only (leaders' cards are denied
  ``stale_replica``); the kiosk says so in its banner and walk-ins wait in the
  outbox. The panel says all of this.
"""

from __future__ import annotations

from datetime import datetime

from hallvakt.demo.data import FACILITY_ID
from sync.replica import Replica

from .files import Layout
from .world import DEMO_TZ


def offline_reason(asked: bool) -> str:
    """Why the demo runs offline, or "" when it runs online: ``asked`` (``--offline``),
    or mosquitto is not installed."""
    from hallvakt.demo.broker import mosquitto_available

    if asked:
        return "--offline: no broker, no central gateway, no sync"
    if not mosquitto_available():
        return "mosquitto is not installed: no broker, no central gateway, no sync"
    return ""


def copy_central_into_node(layout: Layout, now: datetime) -> int:
    """Offline: central's current records straight into the node database (no
    head: nothing from central was verified). Returns the revision copied."""
    from sync.central import changelog as cl
    from sync.central.db import Store
    from sync.replica import replace_all

    with Store.open(layout.central_db) as store:
        rev = cl.revs(store, FACILITY_ID).rev
        records = cl.all_records(store, FACILITY_ID)
    with Replica.open(layout.database, default_tz=DEMO_TZ) as rep:
        replace_all(rep, rev, records, now)
    return rev

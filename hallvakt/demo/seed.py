"""``hallvakt central demo-seed --config FILE --node ID [--seed N] [--date D]``:
the demo facility in central's store.

Rules this module guarantees:
- It loads ``hallvakt.demo.data`` for the day (facility time, Europe/Stockholm)
  into central's store through ``mutate_chunked``, as ``import`` does, in one
  transaction with walk-in windows on the main hall's sections for ``--node``;
  then central renews its leases, so the node holds leases for today.
- It registers nothing: ``register-node`` does, as for any node.
- It runs as one of central's actions (sync.central.admin.run_action: the
  config, the exit statuses), but central knows nothing of the demo.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from sync.central import changelog as cl
from sync.central import leases
from sync.central.admin import open_store
from sync.central.config import CentralConfig
from sync.central.feed import BUDGET
from sync.protocol.timeutil import zone

from .data import FACILITY_ID, generate
from .world import DEMO_TZ

# Walk-in windows of the demo: the main hall's "lease" zones (hallvakt/demo/data/).
DEMO_WINDOWS = (
    leases.Window((1, 2, 3, 4, 5), 9 * 60, 16 * 60),
    leases.Window((6, 7), 13 * 60, 17 * 60),
)
DEMO_SECTIONS = ("hall.a", "hall.b", "hall.c")


def run_demo_seed(cfg: CentralConfig, args: argparse.Namespace) -> int:
    """Seed central's store (module rules); print what was loaded."""
    now = datetime.now(UTC).replace(microsecond=0)
    today: date = args.date or now.astimezone(zone(DEMO_TZ)).date()
    entities = generate(seed=args.seed, today=today, tz=DEMO_TZ)
    ops = [cl.upsert_wire(e, d) for e, items in entities.items() if e != "lease" for d in items]
    with open_store(cfg) as store:
        with store.write():
            store.lock("facility", FACILITY_ID)
            rev = cl.mutate_chunked(store, FACILITY_ID, ops, now, BUDGET)
            for section in DEMO_SECTIONS:
                leases.set_walkin_windows(store, FACILITY_ID, section, args.node, DEMO_WINDOWS)
        rev = leases.renew_leases(store, now).get(FACILITY_ID, rev)
        held = len(cl.records(store, FACILITY_ID, "lease"))
    print(f"demo facility {FACILITY_ID} ({today}, seed {args.seed}): {len(ops)} records, rev {rev}")
    print(f"walk-in windows on {', '.join(DEMO_SECTIONS)} for node {args.node}: {held} leases")
    print(f"register the node: hallvakt central register-node --facility {FACILITY_ID} --node ...")
    return 0

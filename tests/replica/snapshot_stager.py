"""Child program for the snapshot fault test: one process staging a snapshot.

Usage: ``python snapshot_stager.py DBPATH PARTSPATH [HOLD_RECORDS]``

Opens ``Replica.open(DBPATH)``, tidies what a killed run left (as the link
does at start), prints ``ready``, then stages every snapshot
message of ``PARTSPATH`` (one JSON body per line) with ``stage_snapshot``, as
the sync link does with each message (which takes no part of a revision it
has applied unless it wants a snapshot), and prints ``done <outcome>`` with
the last outcome. The test SIGKILLs it at random moments. ``HOLD_RECORDS``:
how many records are held before they are written into the staging tables
(``sync.replica.snapshot.HOLD_RECORDS``; small, so that a run writes several
windows and a kill can land in any of them).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import sync.replica.snapshot as snapshot
from sync.replica import Replica, SnapshotPart, stage_snapshot, staged_snapshot, tidy

NOW = datetime(2026, 5, 4, 12, tzinfo=UTC)


def main(db: str, parts: str) -> None:
    with Replica.open(db) as rep:
        tidy(rep)  # as the link does at start: what a killed run left
        print("ready", flush=True)
        outcome = None
        with open(parts, encoding="utf-8") as f:
            for line in f:
                part = SnapshotPart.from_wire(json.loads(line))
                staged = staged_snapshot(rep)
                if part.rev <= rep.state().applied_rev and (
                    staged is None or staged.rev != part.rev
                ):
                    continue  # the rest of a snapshot already applied
                outcome = stage_snapshot(rep, part, NOW)
        print(f"done {outcome.value if outcome else None}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 3:
        snapshot.HOLD_RECORDS = int(sys.argv[3])
    main(sys.argv[1], sys.argv[2])

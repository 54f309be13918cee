"""Process heartbeats: each daemon (door, sync, kiosk) says it is alive.

Rules this module guarantees:
- A heartbeat is one upsert of one row, so it never competes long for the
  write lock; ``beat`` is cheap enough to call every few seconds.
- ``heartbeats`` reports the age of each process's last beat; a process whose
  beat is older than ``STALE_S`` is shown as not running by ``hallvakt status``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.protocol.timeutil import from_ts, to_ts

from .store import Replica

STALE_S = 30


@dataclass(frozen=True, slots=True)
class Heartbeat:
    process: str
    pid: int
    started: datetime
    beat: datetime
    detail: dict[str, Any]

    def alive(self, now: datetime) -> bool:
        return (now - self.beat).total_seconds() <= STALE_S


def beat(
    rep: Replica, process: str, started: datetime, now: datetime, detail: Mapping[str, Any]
) -> None:
    """Record that ``process`` (this pid) is alive at ``now``, with a small status."""
    with rep.write():
        rep.conn.execute(
            "INSERT INTO heartbeats VALUES (?, ?, ?, ?, ?) ON CONFLICT (process) DO UPDATE"
            " SET pid = excluded.pid, started_ts = excluded.started_ts,"
            " beat_ts = excluded.beat_ts, detail = excluded.detail",
            [process, os.getpid(), to_ts(started), to_ts(now), json.dumps(dict(detail))],
        )


def heartbeats(rep: Replica) -> list[Heartbeat]:
    rows = rep.conn.execute(
        "SELECT process, pid, started_ts, beat_ts, detail FROM heartbeats ORDER BY process"
    )
    return [Heartbeat(p, i, from_ts(s), from_ts(b), json.loads(d)) for p, i, s, b, d in rows]

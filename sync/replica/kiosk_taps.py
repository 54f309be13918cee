"""Cards tapped on a kiosk's own reader, handed from the door controller to the kiosk.

Rules this module guarantees:
- The door controller owns every serial line; a card on a kiosk's reader is
  stored here as its keyed digest only (PROTOCOL.md "Credential digests"),
  never as a raw card number, and kept for ``KEEP_S`` seconds at most.
- A kiosk reads taps after the last id it has seen, so a tap is seen once and
  none is skipped while the kiosk runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync.protocol.timeutil import from_ts, to_ts

from .store import Replica

KEEP_S = 600


@dataclass(frozen=True, slots=True)
class KioskTap:
    id: int
    kiosk: str
    reader: str
    digest: str
    at: datetime


def record_kiosk_tap(rep: Replica, kiosk: str, reader: str, digest: str, at: datetime) -> int:
    """Store one tap (and drop taps older than ``KEEP_S``); return its id."""
    with rep.write():
        rep.conn.execute("DELETE FROM kiosk_taps WHERE at_ts < ?", [to_ts(at) - KEEP_S])
        cur = rep.conn.execute(
            "INSERT INTO kiosk_taps (kiosk, reader, digest, at_ts) VALUES (?, ?, ?, ?)",
            [kiosk, reader, digest, to_ts(at)],
        )
        return int(cur.lastrowid or 0)


def kiosk_taps_after(rep: Replica, kiosk: str, after_id: int) -> list[KioskTap]:
    """Taps on ``kiosk``'s readers with an id above ``after_id``, oldest first."""
    rows = rep.conn.execute(
        "SELECT id, kiosk, reader, digest, at_ts FROM kiosk_taps WHERE kiosk = ? AND id > ?"
        " ORDER BY id",
        [kiosk, after_id],
    )
    return [KioskTap(i, k, r, d, from_ts(t)) for i, k, r, d, t in rows]


def last_kiosk_tap_id(rep: Replica) -> int:
    """The newest tap id (a kiosk starting up ignores older taps)."""
    row = rep.conn.execute("SELECT max(id) FROM kiosk_taps").fetchone()
    return int(row[0] or 0)

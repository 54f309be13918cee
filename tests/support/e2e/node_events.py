"""The node's events: the truth that central's event store is compared with.

- ``append_events`` appends through ``sync.replica.append_event``, as the door
  controller does, and returns only events whose transaction committed.
- ``EventWriter`` is a door controller stand-in on its own thread; its
  ``committed`` (seq -> id) holds every committed event and nothing else, and
  a seq recorded twice fails at once.
- ``exactly_once`` returns [] only when central holds exactly the committed
  events: none missing, none extra, none under another id or epoch.
"""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.replica import OutboxEvent, Replica, append_event


def event_body(rng: random.Random, n: int) -> dict[str, Any]:
    """An ``access.granted`` body of realistic size (docs/protocol.md fields)."""
    digest = base64.urlsafe_b64encode(rng.randbytes(32)).rstrip(b"=").decode()
    return {
        "door": "main",
        "credential": digest,
        "booking": f"b-{n % 997}",
        "reason": "booking",
        "rev": 1,
        "clock": "trusted",
        "n": n,
    }


def append_events(
    rep: Replica, n: int, *, per_tx: int = 10_000, start: int = 0
) -> list[OutboxEvent]:
    """Append ``n`` events in transactions of at most ``per_tx``; the committed events."""
    rng = random.Random(start)
    done: list[OutboxEvent] = []
    at = datetime.now(UTC)
    while len(done) < n:
        with rep.write():
            chunk = [
                append_event(rep, "access.granted", event_body(rng, start + len(done) + i), at)
                for i in range(min(per_tx, n - len(done)))
            ]
        done.extend(chunk)
    return done


class EventWriter:
    """A door controller stand-in: a thread appending 1..``burst`` events per
    transaction every ``pause_s``; ``committed`` maps seq -> id of every event
    whose transaction committed."""

    def __init__(self, database: Path, *, burst: int = 4, pause_s: float = 0.005) -> None:
        self.database, self.burst, self.pause_s = database, burst, pause_s
        self.committed: dict[int, str] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._lock = threading.Lock()

    def record(self, events: Iterable[OutboxEvent]) -> None:
        with self._lock:
            for e in events:
                assert e.seq not in self.committed, f"seq {e.seq} recorded twice"
                self.committed[e.seq] = e.id

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        assert not self._thread.is_alive(), "the event writer did not stop"

    def _run(self) -> None:
        rng = random.Random()
        n = 0
        try:
            with Replica.open(self.database) as rep:
                while not self._stop.is_set():
                    k = rng.randint(1, self.burst)
                    self.record(append_events(rep, k, start=n))
                    n += k
                    self._stop.wait(self.pause_s)
        except Exception as exc:  # reported by the test
            self.errors.append(repr(exc))


def exactly_once(
    committed: Mapping[int, str],
    epoch: int,
    stored: Mapping[tuple[int, int], tuple[str | None, str | None]],
) -> list[str]:
    """What is wrong between the node's committed events (seq -> id) and
    central's store ((epoch, seq) -> (id, clash_id)); [] when central holds
    exactly them: none missing, none extra, none under another id or epoch."""
    problems = []
    missing = sorted(s for s in committed if (epoch, s) not in stored)
    extra = sorted(k for k in stored if k[0] != epoch or k[1] not in committed)
    wrong = sorted(
        s for s, i in committed.items() if (epoch, s) in stored and stored[epoch, s] != (i, None)
    )
    for what, items in (("missing", missing), ("not committed", extra), ("other id", wrong)):
        if items:
            problems.append(f"{len(items)} {what}: {items[:10]}")
    return problems

"""Reader events from a driver's own thread to ``ReaderPort.poll``.

Rules this module guarantees:
- ``drain`` waits up to ``timeout`` seconds for the first event only (not at
  all when ``timeout <= 0``), then takes every event already queued without
  waiting again, so a poll never waits longer than its timeout.
- Events come out in the order they were queued, each exactly once.
"""

from __future__ import annotations

import queue
from typing import TypeVar

T = TypeVar("T")


def drain(events: queue.Queue[T], timeout: float) -> list[T]:
    """Every event queued now, waiting up to ``timeout`` s for the first; [] if none came."""
    out: list[T] = []
    try:
        out.append(events.get(timeout=timeout) if timeout > 0 else events.get_nowait())
        while True:
            out.append(events.get_nowait())
    except queue.Empty:
        return out

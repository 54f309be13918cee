"""drain(): what OsdpBus.poll and SerialLineBus.poll hand the daemon."""

from __future__ import annotations

import queue
import threading
import time

from door_controller.readers.eventqueue import drain


def test_drain_takes_everything_queued_in_order() -> None:
    q: queue.Queue[int] = queue.Queue()
    for i in range(5):
        q.put(i)
    assert drain(q, 0) == [0, 1, 2, 3, 4]
    assert drain(q, 0) == [] and drain(q, -1) == []


def test_drain_waits_for_the_first_event_only() -> None:
    q: queue.Queue[int] = queue.Queue(maxsize=2)
    timer = threading.Timer(0.05, q.put, (7,))
    timer.start()
    try:
        assert drain(q, 10.0) == [7]  # returns as soon as it came, not after 10 s
    finally:
        timer.join()
    t0 = time.monotonic()
    assert drain(q, 0.05) == []
    assert time.monotonic() - t0 < 5.0

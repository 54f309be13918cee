"""sync/central/outage.py: one error per store outage, then a count, then its end."""

from __future__ import annotations

import logging

import pytest

from sync.central.outage import StoreOutage

LOG = "hallvakt.central.test-outage"


def test_an_outage_logs_one_error_then_a_count_a_minute_then_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger=LOG)
    clock = [100.0]
    outage = StoreOutage(logging.getLogger(LOG), every_s=60, clock=lambda: clock[0])
    outage.ok()  # reachable: nothing to say
    assert caplog.records == [] and not outage.down
    boom = ConnectionError("server closed the connection unexpectedly")
    for t in range(0, 59, 2):  # 30 failures within the first minute
        clock[0] = 100.0 + t
        outage.failed(boom, "reading keys")
    assert outage.down and outage.failures == 30
    (first,) = caplog.records
    assert first.levelname == "ERROR" and first.exc_info is not None
    assert "reading keys: server closed the connection unexpectedly" in first.getMessage()
    clock[0] = 160.0  # a minute after the first: one warning with the count
    outage.failed(boom, "the periodic work")
    clock[0] = 161.0
    outage.failed(boom, "the periodic work")  # counted, not logged
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]
    msg = caplog.records[1].getMessage()
    assert "still unreachable after 60 s: 30 more failures in the last 60 s" in msg
    assert caplog.records[1].exc_info is None
    clock[0] = 190.0
    outage.ok()
    assert caplog.records[2].getMessage() == (
        "the store is reachable again after 90 s; 32 failures meanwhile"
    )
    assert not outage.down and outage.failures == 0
    outage.ok()
    clock[0] = 200.0
    outage.failed(boom, "reading keys")  # a new outage: its own error again
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING", "WARNING", "ERROR"]

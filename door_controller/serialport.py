"""pyserial at the door controller's edge: closing a port that may be gone.

A USB adapter pulled out makes ``close`` raise; a driver that is dropping its
port anyway only logs that (house style 4: library exceptions stop here).
"""

from __future__ import annotations

import logging

import serial

log = logging.getLogger(__name__)


def close_quietly(link: serial.SerialBase | None, port: str) -> None:
    """Close ``link`` if open; a failure to close is logged, never raised."""
    if link is None:
        return
    try:
        link.close()
    except (serial.SerialException, OSError):
        log.debug("closing %s failed", port, exc_info=True)

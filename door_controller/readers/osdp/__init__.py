"""OSDP readers: a libosdp control panel on one serial line, secure channel enforced.

``OsdpBus`` is the ``ReaderPort`` of one line: a reader is online only once its
secure channel is up with its own key, nothing a reader sends is delivered
while it is not, and ``signal`` never blocks. Each module opens with the rules
it guarantees:
- ``codec``: OSDP on the wire as both ends use it (keypad bytes, the LED and
  buzzer commands, key and address sizes); pure, shared with ``osdp_sim``;
- ``decoder``: libosdp's control panel events in, reader events out (pure);
- ``reconnect``: when to retry a reader libosdp set offline (pure);
- ``channel``: libosdp's byte pipe over a pyserial port, never blocking or raising;
- ``bus``: ``OsdpBus``, libosdp's control panel and the supervisor thread.

Every name is importable from here.
"""

from .bus import MAX_QUEUED, OsdpBus, OsdpReader, OsdpStats
from .channel import SerialChannel
from .codec import (
    MAX_ADDRESS,
    SCBK_BYTES,
    Keypad,
    command_for,
    feedback_from_command,
    keypad_bytes,
    keypad_key,
)
from .decoder import LINK_LOST, NO_RESPONSE, SC_FAILED, SC_UNSUPPORTED, EventDecoder, LinkNote
from .reconnect import LIBOSDP_OFFLINE_S, Phase, Reconnect

__all__ = [
    "LIBOSDP_OFFLINE_S",
    "LINK_LOST",
    "MAX_ADDRESS",
    "MAX_QUEUED",
    "NO_RESPONSE",
    "SCBK_BYTES",
    "SC_FAILED",
    "SC_UNSUPPORTED",
    "EventDecoder",
    "Keypad",
    "LinkNote",
    "OsdpBus",
    "OsdpReader",
    "OsdpStats",
    "Phase",
    "Reconnect",
    "SerialChannel",
    "command_for",
    "feedback_from_command",
    "keypad_bytes",
    "keypad_key",
]

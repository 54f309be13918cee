"""Words the node configuration shares with the parts it configures.

``firmware_config`` imports no other package of the project (the arrows of
the layout point down to it), so the vocabulary a config names lives here and
the parts take it from here:

- ``Framing``: how a serial-line card reader frames a read
  (door_controller.readers.serial_line parses them; a reader's ``framing`` key);
- ``DEFAULT_TZ``: the facility time zone when none is given (a node's
  ``timezone`` key, the node database, central's facilities).
"""

from __future__ import annotations

import enum

DEFAULT_TZ = "Europe/Stockholm"


class Framing(enum.StrEnum):
    """Serial-line reader framings (docs/hardware.md)."""

    EM4100 = "em4100"  # STX, 10 hex digits, 2 hex digits of XOR checksum, ETX
    HEX_LINE = "hex-line"  # hex digits and an optional /BITS, then a line break

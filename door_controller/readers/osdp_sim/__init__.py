"""Simulated OSDP readers: libosdp's own peripheral device on one end of a pty.

For tests, the demo, ``bench/door.py`` and ``hallvakt door --simulate`` /
``hallvakt tap``. Each module opens with the rules it guarantees:
- ``line``: raw pty pairs, and one fd several readers share as on RS-485;
- ``device``: the simulated readers (``SimulatedBus``, ``SimReader``), libosdp
  PDs that declare every capability the control panel uses and never NAK a
  correct controller;
- ``control``: the JSON-lines control protocol on a unix socket, server
  (``serve``) and client (``SimClient``);
- ``process``: the simulator as a process of its own (``main``, run as
  ``python -m door_controller.readers.osdp_sim``) and the parent's handle on
  it (``SimProcess``).

Every name is importable from here.
"""

from .control import SimClient, handle_request, parse_card, serve
from .device import SimReader, SimReaderSpec, SimulatedBus, SimulatorError
from .line import PtyPair, pty_pair
from .process import SimProcess, main

__all__ = [
    "PtyPair",
    "SimClient",
    "SimProcess",
    "SimReader",
    "SimReaderSpec",
    "SimulatedBus",
    "SimulatorError",
    "handle_request",
    "main",
    "parse_card",
    "pty_pair",
    "serve",
]

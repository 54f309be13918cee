"""``python -m door_controller.readers.osdp_sim``: simulated readers as a process of their
own, as ``SimProcess`` and ``hallvakt door --simulate`` start them (``process.main``)."""

import sys

from door_controller.readers.osdp_sim.process import main

sys.exit(main())

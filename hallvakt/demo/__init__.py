"""``hallvakt demo``: the whole system on one machine, with a demo municipality.

``hallvakt demo [--dir .demo] [--headless] [--seconds N] [--offline]`` runs, each
as a child process with its log in ``DIR/logs/``: a private Mosquitto on
loopback (hallvakt/demo/broker/), the reference central gateway with the demo facility
seeded for today, and one facility node ``demo.node.n1``: its sync link, its
door controller with libosdp's simulated readers on a pty, and its kiosk (in a
window when there is a display, else offscreen with a screenshot every few
seconds in ``DIR/screens/``). When the node has applied central's snapshot and
its door reader is online, it prints a panel: what runs, demo cards and PINs,
and commands to copy. ``hallvakt demo broker stop|start`` takes the broker away
and brings it back, to watch the node carry on offline.

Each module opens with the rules it guarantees:
- ``main``: the entry points, ``run_demo`` (``hallvakt demo``) and
  ``broker_command`` (``hallvakt demo broker stop|start``);
- ``orchestrator``: the running demo (``Demo``) and its state file
  ``DIR/run/demo.json``;
- ``world``: the demo municipality beyond ``demo-seed``, and who to be at the door;
- ``files``: the demo's directory, its configs, and setting up central and the
  node the way an operator does;
- ``processes``: children in sessions of their own, stopped group by group;
- ``offline``: the demo without mosquitto (or with ``--offline``);
- ``panel``: what the demo prints once it runs;
- ``kiosk_child``: the kiosk process (``python -m hallvakt.demo kiosk``);
- ``schedule``: ``hallvakt demo --db FILE``, a database and the day's schedule.
"""

from .main import broker_command, run_demo
from .schedule import run_schedule
from .world import DemoError

__all__ = ["DemoError", "broker_command", "run_demo", "run_schedule"]

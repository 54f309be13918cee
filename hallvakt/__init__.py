"""The ``hallvakt`` command: it assembles the parts, and nothing imports it.

- ``cli``: the argparse tree and ``main``, the console script's entry point;
- ``commands``: ``hallvakt config check|show`` and ``hallvakt provision``;
- ``status``: ``hallvakt status``, the node's health at a glance;
- ``progress``: ``hallvakt status --watch``, the link's long operations;
- ``demo``: ``hallvakt demo``, the whole system on one machine, with its demo
  data and its private broker.
"""

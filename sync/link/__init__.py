"""The node's MQTT sync link (PROTOCOL.md §2-§6, node side; docs/sync.md).

- ``core``: ``LinkCore``, the link without I/O: inputs and a ``Moment`` in,
  MQTT actions out; reads and writes the node database through ``sync.replica``.
  Its parts: ``inbound`` (received messages: order, retries, drops,
  quarantine), ``downstream`` (central's head, changes, snapshots and commands
  into the replica, and the cursors), ``outgoing`` and ``window`` (events up).
- ``events``: its inputs (``Connected``, ``Disconnected``, ``MessageIn``,
  ``Tick``, ``OutboxGrew``), outputs (``Subscribe``, ``Publish``,
  ``AckInbound``, ``Wakeup``), ``Moment`` and ``LinkStats``.
- ``window``: the outbound window of event batches; ``backoff``: reconnect
  backoff with full jitter (both pure).
- ``transport``: paho, with ``sync.mqtt`` (the client both ends make the
  same way), and only there; ``clock``: the system clock's trust;
  ``shell``: ``run(cfg)``, the loop of ``hallvakt sync``.
"""

from .backoff import Backoff
from .core import LinkCore, LinkSettings
from .events import (
    AckInbound,
    Connected,
    Disconnected,
    Input,
    LinkStats,
    MessageIn,
    Moment,
    OutboxGrew,
    Output,
    Publish,
    PublishRefused,
    Subscribe,
    Tick,
    Wakeup,
)
from .window import Window

__all__ = [
    "AckInbound",
    "Backoff",
    "Connected",
    "Disconnected",
    "Input",
    "LinkCore",
    "LinkSettings",
    "LinkStats",
    "MessageIn",
    "Moment",
    "OutboxGrew",
    "Output",
    "Publish",
    "PublishRefused",
    "Subscribe",
    "Tick",
    "Wakeup",
    "Window",
]

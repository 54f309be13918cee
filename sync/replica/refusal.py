"""Refusing to run on a database that cannot be used: one clear line, exit 78.

Rules this module guarantees:
- ``open_or_exit`` is how the node's daemons and tools (``hallvakt sync``,
  ``door``, ``kiosk``, ``status``) open the node database: the open replica, or
  one line on stderr saying what is wrong and what to do, and ``SystemExit``,
  never a traceback. The status is 78 (``EX_CONFIG``: the systemd units do not
  restart on it, ``RestartPreventExitStatus=78``) when a person must act (a
  damaged file, a directory that cannot be made or read), else 1 (a full disk,
  a lock held too long: systemd tries again, and it mends itself).
- ``advice`` is the same text for any ``ReplicaError``, so ``hallvakt status``
  and the daemons' logs say the same thing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import ReplicaDamaged, ReplicaError, ReplicaFull, ReplicaUnavailable
from .sqlite import BUSY_TIMEOUT_S
from .store import Replica

EX_CONFIG = 78  # sysexits.h, as firmware_config.config.EX_CONFIG

DAMAGED_ADVICE = (
    "stop the node's services, move the file aside (keep it: events central has not"
    " acknowledged are in it), and start them again; the node begins a new database and"
    " central sends it a snapshot (docs/operations.md, A damaged database)"
)


def advice(exc: ReplicaError) -> str:
    """What an operator should do about ``exc``."""
    if isinstance(exc, ReplicaDamaged):
        return DAMAGED_ADVICE
    if isinstance(exc, ReplicaFull):
        return "free disk space (the node keeps its events until central has them)"
    if isinstance(exc, ReplicaUnavailable):
        return "check that the path exists and belongs to the node's user (hallvakt)"
    return "see the log"


def open_or_exit(
    path: str | Path,
    *,
    default_tz: str,
    create_dir: bool = True,
    busy_timeout_s: float = BUSY_TIMEOUT_S,
) -> Replica:
    """The open replica at ``path``, or one line on stderr and exit 78 (module rules).

    ``create_dir``: make a missing database directory (mode 0700), as the
    daemons do; ``hallvakt status`` creates nothing.
    """
    try:
        return Replica.open(
            path, default_tz=default_tz, busy_timeout_s=busy_timeout_s, create_dir=create_dir
        )
    except ReplicaError as exc:
        print(f"{exc}: {advice(exc)}", file=sys.stderr)
        raise SystemExit(exit_status(exc)) from None


def exit_status(exc: ReplicaError) -> int:
    """78 when a person must act on ``exc``, else 1 (module rules)."""
    return EX_CONFIG if isinstance(exc, ReplicaDamaged | ReplicaUnavailable) else 1

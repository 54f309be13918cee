"""What goes into the door core and what comes out of it (house style 3: frozen dataclasses).

In: the reader events (``readers.events``), ``Started``, ``Tick`` and
``CommandDue``, each with the time and the ``Facts`` port. Out: a ``Step`` of
effects (``LockCommand``, ``ReaderFeedback``) for the daemon to drive first,
and records (``sync.replica.door_records``) for it to keep after.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sync.replica import Door, Policy
from sync.replica.access import AccessContext
from sync.replica.commands import QueuedCommand
from sync.replica.door_records import DoorRecord, Lockdown

from .readers.events import Feedback, ReaderEvent

# --- what comes in ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """The controller (re)starts: each door's last recorded state, and the lockdown."""

    doors: Mapping[str, str] = field(default_factory=dict)
    lockdown: Lockdown | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: run due timers (unlock, held open, PIN entry)."""


@dataclass(frozen=True, slots=True)
class CommandDue:
    """A queued door command (``unlock``, ``lockdown``, ``release``) to carry out."""

    command: QueuedCommand


CoreEvent = ReaderEvent | Started | Tick | CommandDue


class Facts(Protocol):
    """What the core may know of the replica. Implementations never raise:
    when the replica cannot be read they answer from the staff fallback."""

    def access(self, door: str, digest: str, at: datetime) -> AccessContext:
        """The facts of ``digest`` presented at ``door`` (``sync.replica.access``)."""
        ...

    def pin_matches(self, holder: str, digest: str, at: datetime) -> bool | None:
        """Whether ``digest`` is a valid PIN of ``holder``; None when unknown (unreadable)."""
        ...

    def leaders_in(self, bookings: Collection[str]) -> frozenset[str]:
        """Which of ``bookings`` a leader has entered (recorded ones)."""
        ...

    def door(self, door: str) -> Door | None:
        """Central's record of ``door`` (unlock and held-open times)."""
        ...

    def policy(self) -> Policy: ...

    def tz(self) -> ZoneInfo: ...


# --- what goes out ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockCommand:
    door: str
    locked: bool


@dataclass(frozen=True, slots=True)
class ReaderFeedback:
    reader: str
    feedback: Feedback


Effect = LockCommand | ReaderFeedback


class Step(NamedTuple):
    effects: list[Effect]
    records: list[DoorRecord]


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReaderSite:
    """Where a reader stands: its door and side (``in``/``out``)."""

    door: str
    direction: str = "in"

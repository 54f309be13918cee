"""Door inputs: raw contact levels in, what they mean for the door out. Pure.

A reader reports each contact input as a raw level (OSDP ``osdp_ISTATR``:
``1`` = the circuit is closed, ``0`` = open). How the input is wired decides
what that means: ``normally`` is the contact's state at rest.

Rules this module guarantees (docs/door.md has them as the wiring table):
- An input is *active* when its contact is not in its rest state: a
  normally-closed loop is active when open, a normally-open one when closed.
  So a cut wire (an open circuit) is active on every normally-closed input:
  fail-safe. On a normally-open input a cut wire cannot be told from rest.
- What "active" means per kind: ``contact`` the door is open;
  ``request_to_exit`` the exit button is pressed (or the sensor sees someone);
  ``fire_release`` the fire alarm interface calls for release; ``tamper`` the
  enclosure or the cable is being tampered with.
- ``InputLevels`` remembers the last level of every input; a reader that
  comes online or goes offline forgets its levels, so its next report (the
  reader reports all its inputs when its secure channel comes up) is taken as
  the state of the world, not as a change: ``InputChange.was`` is None then.
Nothing here reads a clock or a device.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


class InputKind(enum.StrEnum):
    """The door inputs of node.toml's ``[[doors]]`` (key names)."""

    CONTACT = "contact"
    EXIT_REQUEST = "request_to_exit"
    FIRE_RELEASE = "fire_release"
    TAMPER = "tamper"


class Normally(enum.StrEnum):
    """A contact's state at rest (node.toml ``normally``)."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class InputWiring:
    """One door input: which door, what kind, where it is wired, and how."""

    door: str
    kind: InputKind
    reader: str
    index: int
    normally: Normally

    @property
    def source(self) -> str:
        """As node.toml writes it: ``reader:<id>:<n>``."""
        return f"reader:{self.reader}:{self.index}"

    def active(self, closed: bool) -> bool:
        """Whether the input is active when its circuit is ``closed`` (or open)."""
        return closed != (self.normally is Normally.CLOSED)


@dataclass(frozen=True, slots=True)
class InputChange:
    """An input whose meaning changed, or was learnt (``was`` None)."""

    wiring: InputWiring
    active: bool
    was: bool | None


class InputLevels:
    """The last raw level of each (reader, input), and what changes mean."""

    def __init__(self, wirings: Iterable[InputWiring]) -> None:
        self.wirings = tuple(wirings)
        self._by_source: dict[tuple[str, int], list[InputWiring]] = {}
        for w in self.wirings:
            self._by_source.setdefault((w.reader, w.index), []).append(w)
        self._levels: dict[tuple[str, int], bool] = {}

    def forget(self, reader: str) -> None:
        """The reader went offline or came back: its levels are unknown until reported."""
        for key in [k for k in self._levels if k[0] == reader]:
            del self._levels[key]

    def level(self, reader: str, index: int) -> bool | None:
        return self._levels.get((reader, index))

    def active(self, wiring: InputWiring) -> bool | None:
        """Whether ``wiring`` is active now (None: not reported since the reader came online)."""
        level = self._levels.get((wiring.reader, wiring.index))
        return None if level is None else wiring.active(level)

    def report(self, reader: str, index: int, closed: bool) -> Iterator[InputChange]:
        """Record a reported level; yield each wired input whose meaning changed
        or was learnt. Inputs nobody wired change nothing."""
        key = (reader, index)
        before = self._levels.get(key)
        self._levels[key] = closed
        for w in self._by_source.get(key, ()):
            now = w.active(closed)
            was = None if before is None else w.active(before)
            if was is not now:
                yield InputChange(w, now, was)

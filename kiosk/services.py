"""What the kiosk's view-models are given instead of reaching for globals.

Rules this module guarantees:
- View-models read time only through a ``Clock`` passed in (``FakeClock`` from
  ``door_controller.testing`` in tests) and speak only through a ``Speaker``.
- ``Services`` is built once at the edge (``kiosk.main``) or in a test and
  handed to the model and to every screen; nothing in the kiosk calls
  ``App.get_running_app()`` for state (ARCHITECTURE.md point 9).
- No service holds a raw card number, PIN, visitor code or phone number longer
  than one call: the credential key turns them into keyed digests at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sync.replica import Replica


class Clock(Protocol):
    """Wall time (aware UTC) for the data, monotonic seconds for timers."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class Speaker(Protocol):
    """Speech output. ``say`` must return at once (never wait for the audio)."""

    def say(self, text: str, lang: str) -> None: ...

    @property
    def available(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class KioskSettings:
    """One ``[[kiosks]]`` entry of node.toml, plus what the kiosk adds.

    ``phone_walkins``: whether a private person may identify with a phone
    number (no node.toml key yet; see docs/kiosk.md).
    """

    id: str
    languages: tuple[str, ...] = ("sv", "en")
    default_language: str = "sv"
    idle_timeout_s: int = 60
    speech: bool = False
    phone_walkins: bool = True


@dataclass(slots=True)
class Services:
    """Everything a view-model needs from outside, passed in explicitly."""

    rep: Replica
    clock: Clock
    speaker: Speaker
    settings: KioskSettings
    node_id: str
    facility_id: str
    credential_key: bytes

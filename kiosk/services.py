"""What the kiosk's view-models are given instead of reaching for globals.

Rules this module guarantees:
- View-models read time only through a ``Clock`` passed in (``FakeClock`` from
  ``door_controller.testing`` in tests) and speak only through a ``Speaker``.
- ``Services`` is built once at the edge (``kiosk.main``) or in a test and
  handed to the model and to every screen; nothing in the kiosk calls
  ``App.get_running_app()`` for state (ARCHITECTURE.md point 9).
- A stored record the kiosk meets that does not decode (``ReplicaCorrupt``)
  is told to ``corrupt`` (the node's ``CorruptTally``, ``corrupt_tally``),
  whose health file the sync link watches to ask central for a snapshot
  (docs/kiosk.md, "Corrupt records"); ``None`` in tests that need no file.
- No service holds a raw card number, PIN, visitor code or phone number longer
  than one call: the credential key turns them into keyed digests at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sync.replica import Replica
from sync.replica.door_health import CorruptTally

from .display import Display


class CorruptReport(Protocol):
    """Where the kiosk reports a stored record that does not decode."""

    def met(self, problem: Exception | str, at: datetime) -> None: ...


def corrupt_tally(database: str | Path, kiosk_id: str) -> CorruptTally:
    """The kiosk ``kiosk_id``'s report, in its health file beside ``database``
    (process ``kiosk-<id>``, the name the link watches)."""
    return CorruptTally(database, f"kiosk-{kiosk_id}")


class Clock(Protocol):
    """Wall time (aware UTC) for the data, monotonic seconds for timers, and
    whether wall time can be trusted (PROTOCOL.md §7: an untrusted clock sells
    no walk-in, because the door would refuse it)."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def trusted(self) -> bool: ...


class Speaker(Protocol):
    """Speech output. ``say`` must return at once (never wait for the audio);
    a new utterance cuts the one still playing. ``private`` sends it to the
    headset only (nothing is said when there is none)."""

    def say(self, text: str, lang: str, *, private: bool = False) -> None: ...

    def set_volume(self, percent: int) -> None: ...

    @property
    def has_headset(self) -> bool: ...

    @property
    def available(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ReaderPlace:
    """Where a reader sits, from node.toml's ``[[readers]]``: its door and
    direction, or the kiosk it serves (the caretaker sees readers by place)."""

    door: str | None = None
    direction: str | None = None  # "in" or "out"
    kiosk: str | None = None


@dataclass(frozen=True, slots=True)
class KioskSettings:
    """One ``[[kiosks]]`` entry of node.toml, plus what the kiosk adds.

    - ``speech``: the screen is read aloud from the start (a kiosk profile
      default: on); visitors turn it off with the header's "Speech" button.
    - ``display``: the window and millimetres (``kiosk.display``).
    - ``speaker_device`` / ``headset_device``: ALSA devices (``None``: the
      system default for the speaker, no headset). With a headset, the door
      code and typed digits are spoken only there, and only on request.
    - ``volume``: speech volume in percent, 10..100, the start of the volume
      control's steps.
    - ``qr_url_template``: the municipality's e-service link the QR code
      holds (``{facility}``, ``{booking}``, ``{code}``, ``{start}``, ``{end}``,
      ``{resource}``); ``None``: a calendar entry with the time and the code.
    - ``phone_walkins``: whether a private person may identify with a phone
      number.
    - ``readers``: reader id -> where it sits.
    """

    id: str
    languages: tuple[str, ...] = ("sv", "en")
    default_language: str = "sv"
    idle_timeout_s: int = 60
    speech: bool = True
    phone_walkins: bool = True
    display: Display = field(default_factory=Display.of)
    speaker_device: str | None = None
    headset_device: str | None = None
    volume: int = 70
    qr_url_template: str | None = None
    readers: Mapping[str, ReaderPlace] = field(default_factory=dict)


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
    corrupt: CorruptReport | None = None

"""Fakes for the kiosk's ports, shipped with the package (like
``door_controller/testing.py``) so tests, the bench and demos share them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RecordingSpeaker:
    """A speaker that keeps what it was asked to say, as ``(lang, text)``."""

    said: list[tuple[str, str]] = field(default_factory=list)
    available: bool = True

    def say(self, text: str, lang: str) -> None:
        self.said.append((lang, text))

    def texts(self) -> list[str]:
        return [t for _, t in self.said]

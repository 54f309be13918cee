"""Fakes for the kiosk's ports, shipped with the package (like
``door_controller/testing.py``) so tests, the bench and demos share them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RecordingSpeaker:
    """A speaker that keeps what it was asked to say, as ``(lang, text)``;
    private speech (the headset's) is kept apart in ``private``."""

    said: list[tuple[str, str]] = field(default_factory=list)
    private: list[tuple[str, str]] = field(default_factory=list)
    available: bool = True
    has_headset: bool = False
    volume: int = 70

    def say(self, text: str, lang: str, *, private: bool = False) -> None:
        if private:
            if self.has_headset:
                self.private.append((lang, text))
            return
        self.said.append((lang, text))

    def set_volume(self, percent: int) -> None:
        self.volume = percent

    def texts(self) -> list[str]:
        return [t for _, t in self.said]

"""A visitor's preferences on the kiosk: language, text size, contrast, speech
and volume, as one value the model replaces (never changes in place).

Rules this module guarantees:
- A kiosk starts each visitor at its settings' preferences
  (``Prefs.default``): its default language (the first offered when that
  one is not), normal text and contrast, speech as its ``speech`` setting,
  and the volume step nearest its ``volume`` percent.
- Text size and volume are indexes into ``TEXT_SCALES`` and ``VOLUMES``, the
  header buttons' steps.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from .services import KioskSettings

TEXT_SCALES = (1.0, 1.3, 1.6)
VOLUMES = (40, 55, 70, 85, 100)  # percent, the volume button's steps


@dataclass(frozen=True, slots=True)
class Prefs:
    lang: str
    text_size: int = 0  # index into TEXT_SCALES
    high_contrast: bool = False
    speech: bool = True
    volume: int = 2  # index into VOLUMES

    @property
    def scale(self) -> float:
        return TEXT_SCALES[self.text_size]

    @classmethod
    def default(cls, s: KioskSettings, languages: tuple[str, ...]) -> Prefs:
        """A new visitor's, at a kiosk offering ``languages`` (module rules)."""
        volume = min(range(len(VOLUMES)), key=lambda i: abs(VOLUMES[i] - s.volume))
        lang = s.default_language if s.default_language in languages else languages[0]
        return cls(lang, speech=s.speech, volume=volume)

"""Speech output through espeak-ng, when it is installed.

Rules this module guarantees:
- ``say`` never waits for the audio: it starts ``espeak-ng`` as a child
  process and returns; a new utterance stops the one still speaking (the
  screen changed), and finished children are reaped on the next call.
- The text goes as one argument after ``--`` (never through a shell), so no
  text can be read as an option.
- Voices: Swedish ``sv`` and English ``en`` (and the other kiosk languages'
  espeak-ng voices where they exist); an unknown language speaks English.
- Without espeak-ng, ``available`` is false and ``say`` does nothing.
"""

from __future__ import annotations

import shutil
import subprocess

VOICES = {"sv": "sv", "en": "en", "fi": "fi", "ar": "ar", "so": "en", "fa": "fa", "uk": "uk"}


class EspeakSpeaker:
    def __init__(self, binary: str | None = None, rate_wpm: int = 150) -> None:
        self.binary = binary if binary is not None else shutil.which("espeak-ng")
        self.rate = rate_wpm
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def available(self) -> bool:
        return self.binary is not None

    def command(self, text: str, lang: str) -> list[str]:
        voice = VOICES.get(lang, "en")
        return [str(self.binary), "-v", voice, "-s", str(self.rate), "--", text]

    def say(self, text: str, lang: str) -> None:
        if self.binary is None or not text:
            return
        self.stop()
        try:
            self._child = subprocess.Popen(
                self.command(text, lang),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            self._child = None  # speech is a help, never a reason to fail

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None and child.poll() is None:
            child.terminate()
        if child is not None:
            try:
                child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                child.kill()

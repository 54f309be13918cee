"""Speech output through espeak-ng, to the speaker or a private headset (ALSA).

Rules this module guarantees:
- ``say`` never waits for the audio: it starts ``espeak-ng`` as a child
  process (piped into ALSA's ``aplay -D DEVICE`` when a device is named) and
  returns; a new utterance stops the one still speaking (the screen changed),
  and finished children are reaped on the next call.
- The text goes as one argument after ``--`` (never through a shell), so no
  text can be read as an option; a device name is one argument of ``-D``.
- ``private`` speech (a door code, typed digits) goes to the headset device
  only; without a headset it is not spoken at all by this call (the caller
  decides whether the public speaker may say it).
- ``set_volume`` takes percent 10..100; espeak-ng's amplitude follows it.
- Voices: Swedish ``sv`` and English ``en`` (and the other kiosk languages'
  espeak-ng voices where they exist); an unknown language speaks English.
- Without espeak-ng, ``available`` is false and ``say`` does nothing; without
  ``aplay`` a named device cannot be reached and ``available`` is false too.
"""

from __future__ import annotations

import shutil
import subprocess

VOICES = {"sv": "sv", "en": "en", "fi": "fi", "ar": "ar", "so": "en", "fa": "fa", "uk": "uk"}
MAX_AMPLITUDE = 160  # espeak-ng's -a at 100 % (its own default is 100)


class EspeakSpeaker:
    def __init__(
        self,
        binary: str | None = None,
        *,
        rate_wpm: int = 150,
        speaker_device: str | None = None,
        headset_device: str | None = None,
        volume: int = 70,
        aplay: str | None = None,
    ) -> None:
        self.binary = binary if binary is not None else shutil.which("espeak-ng")
        self.aplay = aplay if aplay is not None else shutil.which("aplay")
        self.rate = rate_wpm
        self.speaker_device, self.headset_device = speaker_device, headset_device
        self.volume = volume
        self._children: list[subprocess.Popen[bytes]] = []

    @property
    def available(self) -> bool:
        needs_aplay = self.speaker_device is not None or self.headset_device is not None
        return self.binary is not None and (self.aplay is not None or not needs_aplay)

    @property
    def has_headset(self) -> bool:
        return self.headset_device is not None and self.available

    def set_volume(self, percent: int) -> None:
        self.volume = max(10, min(100, percent))

    def command(self, text: str, lang: str, *, to_stdout: bool = False) -> list[str]:
        voice = VOICES.get(lang, "en")
        amp = round(MAX_AMPLITUDE * self.volume / 100)
        cmd = [str(self.binary), "-v", voice, "-s", str(self.rate), "-a", str(amp)]
        return [*cmd, *(["--stdout"] if to_stdout else []), "--", text]

    def player(self, device: str) -> list[str]:
        return [str(self.aplay), "-q", "-D", device]

    def say(self, text: str, lang: str, *, private: bool = False) -> None:
        if not self.available or not text:
            return
        device = self.headset_device if private else self.speaker_device
        if private and device is None:
            return
        self.stop()
        quiet = subprocess.DEVNULL
        try:
            if device is None:
                self._children = [
                    subprocess.Popen(
                        self.command(text, lang), stdin=quiet, stdout=quiet, stderr=quiet
                    )
                ]
                return
            voice = subprocess.Popen(
                self.command(text, lang, to_stdout=True),
                stdin=quiet,
                stdout=subprocess.PIPE,
                stderr=quiet,
            )
            play = subprocess.Popen(
                self.player(device), stdin=voice.stdout, stdout=quiet, stderr=quiet
            )
            if voice.stdout is not None:
                voice.stdout.close()  # aplay holds the only read end
            self._children = [voice, play]
        except OSError:
            self.stop()  # speech is a help, never a reason to fail

    def stop(self) -> None:
        children, self._children = self._children, []
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def wait(self, timeout: float = 10.0) -> None:
        """Wait until the current utterance has played (tests and the bench)."""
        for child in self._children:
            child.wait(timeout=timeout)

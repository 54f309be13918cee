"""The kiosk's voice: the exact espeak-ng command it runs speaks Swedish and
English (rendered to a WAV file instead of the loudspeaker)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from kiosk.speech import EspeakSpeaker

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make test installs it)"
)


@pytest.mark.parametrize(
    ("lang", "text"),
    [("sv", "Bokningen är klar. Dörrkoden visas på skärmen."), ("en", "Your booking is done.")],
)
def test_the_kiosk_command_speaks(tmp_path: Path, lang: str, text: str) -> None:
    out = tmp_path / f"{lang}.wav"
    argv = EspeakSpeaker().command(text, lang)
    argv[1:1] = ["-w", str(out)]  # the same voice and rate, to a file
    subprocess.run(argv, check=True, timeout=30, capture_output=True)
    with wave.open(str(out)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert 1.0 < seconds < 15.0


def test_say_starts_a_child_and_stop_reaps_it() -> None:
    speaker = EspeakSpeaker()
    speaker.say("Hallen stänger klockan tjugoett. " * 5, "sv")
    [child] = speaker._children
    speaker.stop()
    assert speaker._children == [] and child.returncode is not None  # no zombie left

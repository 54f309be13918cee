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


@pytest.mark.skipif(shutil.which("aplay") is None, reason="alsa-utils is not installed")
def test_speaker_and_headset_are_real_alsa_devices(tmp_path: Path) -> None:
    """espeak-ng piped into ALSA's aplay: the public voice reaches the speaker
    device only, the door code (private) the headset only. ALSA's own ``file``
    plugin stands in for the two sound cards and keeps the bytes played."""
    speaker_raw, headset_raw = tmp_path / "speaker.raw", tmp_path / "headset.raw"
    voice = EspeakSpeaker(
        speaker_device=f"file:FILE={speaker_raw},FORMAT=raw",
        headset_device=f"file:FILE={headset_raw},FORMAT=raw",
        volume=40,
    )
    assert voice.available and voice.has_headset
    voice.say("Boka nu, elva till tolv", "sv")
    voice.wait()
    spoken = speaker_raw.stat().st_size
    assert spoken > 10_000 and not headset_raw.exists()
    voice.say("Din dörrkod är ett, två, tre", "sv", private=True)
    voice.wait()
    assert headset_raw.stat().st_size > 10_000
    assert speaker_raw.stat().st_size == spoken  # the speaker got nothing of the code
    quiet = EspeakSpeaker(speaker_device=f"file:FILE={tmp_path / 'none.raw'},FORMAT=raw")
    quiet.say("hemlig kod", "sv", private=True)  # no headset: not spoken at all
    assert quiet._children == [] and not (tmp_path / "none.raw").exists()

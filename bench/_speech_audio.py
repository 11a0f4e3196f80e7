"""The spoken answers of :mod:`bench.speech`: espeak-ng says them, and they reach ccari as a
telephone caller's audio does.

One clip: espeak-ng (a voice, a speed) -> 8 kHz 16-bit -> silence before and after -> white
noise at an SNR (relative to the speech's own RMS; seeded, so every run makes the same
clip) -> G.711 mu-law (the carrier's codec) -> 16 kHz 16-bit, what Asterisk sends for
``slin16`` (the ``externalMedia`` format ccari asks for).  Clips are cached as WAV files
under the temp directory (``--cache``), keyed by everything that makes them.
"""

from __future__ import annotations

import hashlib
import math
import random
import subprocess
import tempfile
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

RATE = 16000  # what the recogniser gets (slin16)
LINE_RATE = 8000  # what the caller's codec carries (PCMU)
LEAD_S = 0.6
TRAIL_S = 1.2
# The line noise goes on after a noisy answer for longer than ccari's longest utterance
# (``speech.max_utterance_s``, 4 s): at 10 dB the end-pointer hears the noise as speech and
# never hears the answer end, and the live menu then decides on what the cut hands over.
NOISY_TRAIL_S = 4.6
# The speech level that silence-only clips take their noise level from (an espeak-ng word's
# typical RMS at 8 kHz): "nothing said" on a line as noisy as the other clips of its SNR.
REFERENCE_RMS = 2500.0
VERSION = 2  # bump when the recipe changes: old cached clips are not reused


@dataclass(frozen=True)
class Clip:
    text: str  # "" : the caller says nothing
    voice: str
    speed: int
    snr_db: float | None  # None: clean

    def key(self, seed: int) -> str:
        raw = f"{VERSION}|{self.text}|{self.voice}|{self.speed}|{self.snr_db}|{seed}"
        return hashlib.sha1(raw.encode()).hexdigest()[:16]


def default_cache() -> Path:
    return Path(tempfile.gettempdir()) / "ccari-bench-speech"


def load(clip: Clip, seed: int, cache: Path) -> bytes:
    """The clip as 16 kHz 16-bit native PCM, made once and then read from ``cache``."""
    path = cache / f"{clip.key(seed)}.wav"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        pcm = _make(clip, seed)
        tmp = path.with_suffix(".part")
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm)
        tmp.replace(path)
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes())


def _make(clip: Clip, seed: int) -> bytes:
    speech = _espeak(clip) if clip.text else array("h")
    trail = TRAIL_S if clip.snr_db is None else NOISY_TRAIL_S
    line = array("h", bytes(2 * int(LEAD_S * LINE_RATE))) + speech + array(
        "h", bytes(2 * int(trail * LINE_RATE)))
    if clip.snr_db is not None:
        level = _rms(speech) if clip.text else REFERENCE_RMS
        sigma = level / 10 ** (clip.snr_db / 20)
        rng = random.Random(f"{seed}|{clip.key(seed)}")
        line = array("h", (max(-32768, min(32767, round(s + rng.gauss(0.0, sigma))))
                           for s in line))
    return _telephone(line.tobytes())


def _espeak(clip: Clip) -> array[int]:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "said.wav"
        subprocess.run(["espeak-ng", "-v", clip.voice, "-s", str(clip.speed), "-w", str(wav),
                        clip.text], check=True, capture_output=True)
        out = subprocess.run(["sox", "-R", str(wav), "-r", str(LINE_RATE), "-c", "1", "-b", "16",
                              "-e", "signed-integer", "-t", "raw", "-"],
                             check=True, capture_output=True).stdout
    return array("h", out)


def _telephone(pcm8k: bytes) -> bytes:
    """8 kHz 16-bit -> mu-law (8 bit) -> 16 kHz 16-bit, as the carrier and Asterisk do."""
    raw8 = ["-t", "raw", "-r", str(LINE_RATE), "-c", "1"]
    ulaw = subprocess.run(["sox", "-R", *raw8, "-e", "signed-integer", "-b", "16", "-",
                           *raw8, "-e", "mu-law", "-b", "8", "-"],
                          input=pcm8k, check=True, capture_output=True).stdout
    return subprocess.run(["sox", "-R", *raw8, "-e", "mu-law", "-b", "8", "-",
                           "-t", "raw", "-r", str(RATE), "-c", "1", "-e", "signed-integer",
                           "-b", "16", "-"], input=ulaw, check=True, capture_output=True).stdout


def _rms(samples: array[int]) -> float:
    voiced = [s for s in samples if abs(s) > 64]  # espeak-ng's own pauses left out
    if not voiced:
        return REFERENCE_RMS
    return math.sqrt(sum(s * s for s in voiced) / len(voiced))

"""The voicemail tests use the public side's seeded runtime (no PBX: the calls are made up;
the real PBX proof is tests/voice/test_overflow_pbx.py)."""

from __future__ import annotations

import io
import math
import struct
import wave

from tests.public.conftest import demo, rt

__all__ = ["demo", "rt", "wav"]


def wav(seconds: float, hz: float = 440.0) -> bytes:
    """A message as Asterisk records it: 8 kHz mono 16-bit WAV, a tone."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", round(8000 * math.sin(2 * math.pi * hz * n / 8000)))
                               for n in range(int(seconds * 8000))))
    return out.getvalue()

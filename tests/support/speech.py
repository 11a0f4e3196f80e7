"""Spoken test audio: espeak-ng says it, sox makes it telephone audio, and it is packed as
RTP in a pcap that SIPp plays (``play_pcap_audio``) or as 16 kHz PCM for the recogniser."""

from __future__ import annotations

import struct
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

PCMU_RATE = 8000
FRAME = 160  # 20 ms of PCMU


def say(texts: Sequence[str], *, rate: int, encoding: str, voice: str = "en-us",
        speed: int = 150, gap_s: float = 1.5, lead_s: float = 0.3, noise: float = 0.0) -> bytes:
    """``texts`` spoken one after the other with ``gap_s`` of silence between them, as raw
    mono audio (``encoding``: ``mu-law`` 8 bit or ``signed-integer`` 16 bit) at ``rate``;
    ``noise``: the amplitude of white noise mixed in (0: none)."""
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for i, text in enumerate(texts):
            wav = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
                           check=True, capture_output=True)
            parts.append(str(wav))
        joined = Path(tmp) / "all.wav"
        pad = ["pad", str(lead_s), str(gap_s)]  # each part padded, then concatenated
        padded = []
        for i, part in enumerate(parts):
            out = Path(tmp) / f"p{i}.wav"
            subprocess.run(["sox", "-R", part, "-r", "16000", "-c", "1", "-b", "16", str(out), *pad],
                           check=True, capture_output=True)
            padded.append(str(out))
        subprocess.run(["sox", "-R", *padded, str(joined)] if len(padded) > 1
                       else ["sox", "-R", padded[0], str(joined)], check=True, capture_output=True)
        if noise:
            seconds = subprocess.run(["soxi", "-D", str(joined)], check=True,
                                     capture_output=True, text=True).stdout.strip()
            noisy = Path(tmp) / "noisy.wav"
            hiss = Path(tmp) / "hiss.wav"
            subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", str(hiss),
                            "synth", seconds, "whitenoise", "vol", str(noise)],
                           check=True, capture_output=True)
            subprocess.run(["sox", "-R", "-m", str(joined), str(hiss), str(noisy)], check=True,
                           capture_output=True)
            joined = noisy
        bits = "8" if encoding == "mu-law" else "16"
        out = subprocess.run(["sox", "-R", str(joined), "-r", str(rate), "-c", "1", "-e", encoding,
                              "-b", bits, "-t", "raw", "-"], check=True, capture_output=True)
        return out.stdout


def telephone_pcm16k(texts: Sequence[str], **kwargs: object) -> bytes:
    """What the recogniser gets from a telephone caller: PCMU at 8 kHz, resampled to 16 kHz
    16-bit (as Asterisk does for ``slin16``)."""
    ulaw = say(texts, rate=PCMU_RATE, encoding="mu-law", **kwargs)  # type: ignore[arg-type]
    out = subprocess.run(["sox", "-R", "-t", "raw", "-r", "8000", "-e", "mu-law", "-c", "1", "-",
                          "-r", "16000", "-b", "16", "-e", "signed-integer", "-t", "raw", "-"],
                         input=ulaw, check=True, capture_output=True)
    return out.stdout


def rtp_pcap(ulaw: bytes, *, src: tuple[str, int] = ("10.0.0.1", 6000),
             dst: tuple[str, int] = ("10.0.0.2", 6000)) -> bytes:
    """PCMU audio as a pcap of RTP packets, one every 20 ms (SIPp's ``play_pcap_audio``
    sends the payloads with that timing to the call's media address)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # Ethernet link type
    for seq, start in enumerate(range(0, len(ulaw) - FRAME + 1, FRAME)):
        rtp = struct.pack("!BBHII", 0x80, 0x80 if seq == 0 else 0, seq & 0xFFFF,
                          seq * FRAME, 0x1234ABCD) + ulaw[start:start + FRAME]
        udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                         _addr(src[0]), _addr(dst[0])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        usec = seq * 20000
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame),
                               len(frame)) + frame)
    return b"".join(out)


def _addr(ip: str) -> bytes:
    return bytes(int(p) for p in ip.split("."))

"""A caller's audio as Asterisk sends it (RTP over UDP, ``slin16``), cut into utterances.

``rtp_payload`` is pure; :class:`Utterances` is the datagram protocol of one listening
session: it end-points the stream with pocketsphinx's voice activity detector (cheap
enough for the event loop: 30 ms frames) and hands each utterance on; recognition itself
runs elsewhere (``recognizer.py``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from array import array
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


def rtp_payload(packet: bytes) -> bytes | None:
    """The payload of an RTP packet (version 2), CSRCs, extension and padding skipped;
    None for anything else."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    start = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # header extension
        if len(packet) < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(packet[start + 2:start + 4], "big")
    end = len(packet)
    if packet[0] & 0x20 and end > start:  # padding
        end -= packet[-1]
    return packet[start:end] if end > start else None


def to_native(big_endian_pcm: bytes) -> bytes:
    """RTP's L16 (network byte order) as the host's 16-bit samples."""
    samples = array("h", big_endian_pcm[: len(big_endian_pcm) & ~1])
    if sys.byteorder == "little":
        samples.byteswap()
    return samples.tobytes()


class Utterances(asyncio.DatagramProtocol):
    """Speech start -> ``started()``; speech end (or ``max_s`` of it) -> ``ended(pcm)``."""

    def __init__(self, started: Callable[[], None], ended: Callable[[bytes], None], *,
                 max_s: float = 4.0) -> None:
        from pocketsphinx import Endpointer

        self._ep: Any = Endpointer(sample_rate=SAMPLE_RATE)
        self._frame = int(self._ep.frame_bytes)
        self._pending = bytearray()
        self._speech = bytearray()
        self._max = int(max_s * SAMPLE_RATE) * 2
        self._cut = False  # the utterance reached max_s: the rest of it is ignored
        self._started = started
        self._ended = ended
        self.packets = 0

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        payload = rtp_payload(data)
        if payload is None:
            return
        self.packets += 1
        self._pending += to_native(payload)
        while len(self._pending) >= self._frame:
            frame = bytes(self._pending[: self._frame])
            del self._pending[: self._frame]
            self._process(frame)

    def _process(self, frame: bytes) -> None:
        was = bool(self._ep.in_speech)
        speech = self._ep.process(frame)
        now = bool(self._ep.in_speech)
        if now and not was:
            self._speech.clear()
            self._cut = False
            self._started()
        if speech is not None and not self._cut:
            self._speech += speech
            if len(self._speech) >= self._max:
                self._cut = True
                self._ended(bytes(self._speech))
        if was and not now and not self._cut:
            self._ended(bytes(self._speech))

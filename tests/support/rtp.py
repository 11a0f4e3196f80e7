"""The media side of a SIP leg SIPp signals: a UDP socket whose port the leg's SDP names
(``sdp_port`` in the SIPp scenarios).  It sends the leg's own tone (once Asterisk's first
packet tells it where: Asterisk's RTP is symmetric) and RFC 4733 digits, and keeps what it
receives; the strength of given tones in what came over a window (a Goertzel filter per
frequency) tells which legs the leg hears."""

from __future__ import annotations

import asyncio
import math
import random
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def _ulaw_to_linear(byte: int) -> int:
    u = ~byte & 0xFF
    magnitude = ((u & 0x0F) << 3) + 0x84
    magnitude <<= (u & 0x70) >> 4
    return (0x84 - magnitude) if u & 0x80 else (magnitude - 0x84)


ULAW = [_ulaw_to_linear(b) for b in range(256)]


def tone(seconds: float, hz: float, amplitude: int = 8000) -> bytes:
    """A tone, 8 kHz mu-law (what SIPp's rtp_stream sends as PCMU)."""
    def encode(sample: int) -> int:
        return min(range(256), key=lambda b: abs(ULAW[b] - sample))

    table = {}
    out = bytearray()
    for n in range(int(seconds * 8000)):
        s = round(amplitude * math.sin(2 * math.pi * hz * n / 8000))
        if s not in table:
            table[s] = encode(s)
        out.append(table[s])
    return bytes(out)


def amplitude_at(samples: Sequence[int], hz: float, rate: int = 8000) -> float:
    """The amplitude of the ``hz`` component of ``samples`` (Goertzel)."""
    if not samples:
        return 0.0
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(samples)


@dataclass(frozen=True)
class RtpHeader:
    """One received RTP packet's header: when it came, and what says where it is in its
    stream (RFC 3550 section 5.1)."""

    at: float
    seq: int
    ts: int
    ssrc: int
    marker: bool
    pt: int


class RtpPeer(asyncio.DatagramProtocol):
    """One leg's audio: sends ``sound`` (8 kHz mu-law, looped) every 20 ms once Asterisk's
    first packet arrives; keeps the PCMU packets (payload type 0) it receives."""

    PT = 0  # the payload type it sends and keeps
    FRAME = 160  # bytes of ``sound`` per 20 ms packet

    def __init__(self, sound: bytes) -> None:
        self.sound = sound
        self.packets: list[tuple[float, bytes]] = []
        self.headers: list[RtpHeader] = []  # every RTP packet received, in order
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.remote: tuple[str, int] | None = None
        self._seq = random.randrange(1 << 16)
        self._ts = random.randrange(1 << 32)
        self._ssrc = random.randrange(1 << 32)
        self._pos = 0
        self._sender: asyncio.Task[None] | None = None
        self._event: tuple[int, int, int] | None = None  # digit code, duration, end packets
        self.digits: list[str] = []  # RFC 4733 digits received (payload type 96), once each
        self._last_end = b""  # the timestamp of the last digit's end (sent three times)

    @property
    def ssrc(self) -> int:
        """The SSRC of what this peer sends."""
        return self._ssrc

    @classmethod
    async def open(cls, ip: str, sound: bytes) -> RtpPeer:
        loop = asyncio.get_running_loop()
        transport, peer = await loop.create_datagram_endpoint(lambda: cls(sound),
                                                              local_addr=(ip, 0))
        peer.transport = transport
        peer.port = int(transport.get_extra_info("sockname")[1])
        return peer

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.start((str(addr[0]), int(addr[1])))
        if len(data) >= 12 and data[0] >> 6 == 2:
            seq, ts, ssrc = struct.unpack("!HII", data[2:12])
            self.headers.append(RtpHeader(time.monotonic(), seq, ts, ssrc, bool(data[1] & 0x80),
                                          data[1] & 0x7F))
        if len(data) > 12 and data[1] & 0x7F == self.PT:
            skip = 12 + 4 * (data[0] & 0x0F)
            self.packets.append((time.monotonic(), data[skip:]))
        elif len(data) >= 16 and data[1] & 0x7F == 96:
            skip = 12 + 4 * (data[0] & 0x0F)
            code, flags = data[skip], data[skip + 1]
            if flags & 0x80 and self._last_end != data[4:8]:
                self.digits.append("0123456789*#"[code] if code < 12 else "?")
                self._last_end = data[4:8]

    def _packet(self, pt: int, payload: bytes, marker: bool = False) -> bytes:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self._seq,
                             self._ts, self._ssrc)
        self._seq = (self._seq + 1) & 0xFFFF
        return header + payload

    async def _send(self) -> None:
        assert self.transport is not None and self.remote is not None
        start, n = time.monotonic(), 0
        while True:
            if self._event is not None:  # an RFC 4733 digit (payload type 96) instead
                code, duration, ends = self._event
                end = duration >= 1600
                payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, duration)
                self.transport.sendto(self._packet(96, payload, marker=duration == 160),
                                      self.remote)
                if not end:
                    self._event = (code, duration + 160, 0)
                elif ends < 2:  # the end packet, three times
                    self._event = (code, duration, ends + 1)
                else:
                    self._event = None
                    self._ts = (self._ts + duration) & 0xFFFFFFFF
            else:
                chunk = (self.sound * 2)[self._pos:self._pos + self.FRAME]
                self._pos = (self._pos + self.FRAME) % len(self.sound)
                self.transport.sendto(self._packet(self.PT, chunk), self.remote)
                self._ts = (self._ts + 160) & 0xFFFFFFFF
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))  # pacing

    def start(self, remote: tuple[str, int]) -> None:
        """Send to ``remote`` from now on (once: what came first decides)."""
        if self.remote is None:
            self.remote = remote
            self._sender = asyncio.get_running_loop().create_task(self._send())

    def redirect(self, remote: tuple[str, int]) -> None:
        """Send to ``remote`` from now on, even if sending elsewhere already (the same phone
        in a new call)."""
        if self.remote is None:
            self.start(remote)
        self.remote = remote

    def press(self, digit: str) -> None:
        """Send one RFC 4733 digit (200 ms), then the sound again."""
        self._event = ("0123456789*#".index(digit), 160, 0)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
        if self.transport is not None:
            self.transport.close()

    def samples(self, since: float, until: float) -> list[int]:
        return [ULAW[b] for at, payload in self.packets if since <= at < until for b in payload]

    def tones(self, since: float, until: float, freqs: Iterable[float]) -> dict[float, float]:
        samples = self.samples(since, until)
        return {hz: amplitude_at(samples, hz) for hz in freqs}


class GsmPeer(RtpPeer):
    """The same with GSM 06.10 (payload type 3): ``sound`` is GSM frames (33 bytes per 20
    ms, e.g. a ``.gsm`` file Asterisk wrote); ``packets`` keep the GSM frames received."""

    PT = 3
    FRAME = 33


@dataclass(frozen=True)
class Run:
    """Consecutive packets of one SSRC: where it starts in the capture, how many."""

    ssrc: int
    start: int
    packets: int


def runs(headers: Sequence[RtpHeader]) -> list[Run]:
    """The capture cut where the SSRC changes."""
    out: list[Run] = []
    for i, h in enumerate(headers):
        if out and out[-1].ssrc == h.ssrc:
            last = out[-1]
            out[-1] = Run(last.ssrc, last.start, last.packets + 1)
        else:
            out.append(Run(h.ssrc, i, 1))
    return out


def continuity_breaks(headers: Sequence[RtpHeader]) -> list[str]:
    """What breaks RTP continuity in a capture where nothing is lost (the loopback): a
    sequence number that does not follow the previous packet of the same SSRC (+1, modulo
    2^16), or a new SSRC whose first packet lacks the marker bit (the stream's very first
    packet starts the stream: it changes no source).  Empty: continuous."""
    problems: list[str] = []
    last: dict[int, int] = {}
    for i, h in enumerate(headers):
        new_source = i > 0 and headers[i - 1].ssrc != h.ssrc
        if h.ssrc in last and h.seq != (last[h.ssrc] + 1) & 0xFFFF:
            problems.append(f"packet {i}: ssrc {h.ssrc:08x} seq {h.seq} after {last[h.ssrc]}")
        if new_source and not h.marker:
            problems.append(f"packet {i}: ssrc {h.ssrc:08x} starts without the marker bit")
        last[h.ssrc] = h.seq
    return problems

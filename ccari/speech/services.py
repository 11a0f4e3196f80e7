"""Listening to an IVR caller: the audio path on Asterisk and the recogniser.

Why a snoop channel: the caller stays exactly where the IVR has them (not in a bridge, the
prompts and digits untouched); a snoop (``spy=in``: the caller's voice only, never the
prompt) and an external media channel (RTP/UDP ``slin16`` to a socket of this session) are
bridged together, so Asterisk streams what the caller says, resampled to 16 kHz, to ccari.
The session tears the three down when the menu is over; when the caller hangs up, the
snoop ends and the session with it (``ended``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ccari.ari import AriClient, ids
from ccari.ari.errors import AriError
from ccari.ari.ids import Kind
from ccari.config import SpeechConfig
from ccari.speech.grammar import Heard, Vocabulary
from ccari.speech.media import Utterances
from ccari.speech.recognizer import Recognizer
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)


class Session:
    def __init__(self, service: SpeechService, contact_id: str, n: int,
                 vocabulary: Vocabulary,
                 started: Callable[[], Awaitable[None]],
                 heard: Callable[[str, float, str | None], Awaitable[None]]) -> None:
        self.snoop_id = ids.make(Kind.SPEECH_SNOOP, contact_id, n)
        self.media_id = ids.make(Kind.SPEECH_MEDIA, contact_id, n)
        self.bridge_id = ids.make(Kind.SPEECH_BRIDGE, contact_id, n)
        self.contact_id = contact_id
        self.vocabulary = vocabulary
        self.transport: asyncio.DatagramTransport | None = None
        self.utterances: Utterances | None = None
        # The snoop and the media channel must be in Stasis before they join the bridge.
        self.in_stasis = {self.snoop_id: asyncio.Event(), self.media_id: asyncio.Event()}
        self._service = service
        self._started = started
        self._heard = heard
        self._stopped = False

    def use(self, labels: Mapping[str, str]) -> None:
        self._service.tasks.spawn(self._use(dict(labels)), f"vocabulary-{self.contact_id}")

    async def _use(self, labels: dict[str, str]) -> None:
        self.vocabulary = await self._service.recognizer.vocabulary(labels)

    def speech_started(self) -> None:
        if not self._stopped:
            self._service.tasks.spawn(self._barge_in(), f"speech-start-{self.contact_id}")

    async def _barge_in(self) -> None:
        await self._started()

    def utterance(self, pcm: bytes) -> None:
        if not self._stopped:
            self._service.tasks.spawn(self._recognize(pcm), f"speech-{self.contact_id}")

    async def _recognize(self, pcm: bytes) -> None:
        heard: Heard = await self._service.recognizer.recognize(pcm, self.vocabulary)
        if not self._stopped:
            threshold = self._service.config.min_confidence
            await self._heard(heard.said, heard.confidence, heard.chosen(threshold))

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._service.forget(self)
        if self.transport is not None:
            self.transport.close()
        log.info("contact %s: stopped listening (%d RTP packets heard)", self.contact_id,
                 self.utterances.packets if self.utterances else 0)
        ari = self._service.ari
        await asyncio.gather(*(_safe(aw) for aw in (
            ari.hangup(self.snoop_id), ari.hangup(self.media_id),
            ari.destroy_bridge(self.bridge_id))))


class SpeechService:
    """The :class:`~ccari.voice.ports.SpeechPort` of the voice ACD."""

    def __init__(self, config: SpeechConfig, recognizer: Recognizer) -> None:
        self.config = config
        self.recognizer = recognizer
        self.tasks = TaskSet("speech")
        self.sessions: dict[str, Session] = {}  # by snoop channel id
        self._by_media: dict[str, Session] = {}  # by media channel id
        self._ari: AriClient | None = None
        self._count = 0

    def forget(self, session: Session) -> None:
        self.sessions.pop(session.snoop_id, None)
        self._by_media.pop(session.media_id, None)

    def bind(self, ari: AriClient) -> None:
        self._ari = ari

    @property
    def ari(self) -> AriClient:
        if self._ari is None:
            raise RuntimeError("speech: no ARI client attached")
        return self._ari

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await session.stop()
        await self.tasks.close()
        self.recognizer.close()

    async def listen(self, channel_id: str, contact_id: str, labels: Mapping[str, str],
                     started: Callable[[], Awaitable[None]],
                     heard: Callable[[str, float, str | None], Awaitable[None]],
                     ) -> Session | None:
        vocabulary = await self.recognizer.vocabulary(dict(labels))
        if not vocabulary:
            return None
        self._count += 1
        session = Session(self, contact_id, self._count, vocabulary, started, heard)
        loop = asyncio.get_running_loop()
        host = self.config.media_host
        try:
            transport, session.utterances = await loop.create_datagram_endpoint(
                lambda: Utterances(session.speech_started, session.utterance,
                                   max_s=self.config.max_utterance_s),
                local_addr=(host, 0))
            session.transport = transport
            port = transport.get_extra_info("sockname")[1]
            self.sessions[session.snoop_id] = session
            self._by_media[session.media_id] = session
            ari = self.ari
            await ari.create_bridge(session.bridge_id)
            await ari.external_media(session.media_id, f"{host}:{port}", format="slin16")
            await ari.snoop(channel_id, snoop_id=session.snoop_id, spy="in")
            async with asyncio.timeout(self.config.setup_timeout_s):
                await asyncio.gather(*(e.wait() for e in session.in_stasis.values()))
            await ari.add_channel(session.bridge_id, [session.snoop_id, session.media_id])
        except (AriError, OSError, TimeoutError) as exc:
            log.warning("contact %s: cannot listen to the caller (%s): digits only",
                        contact_id, exc)
            await session.stop()
            return None
        log.info("contact %s: listening for %s", contact_id, sorted(vocabulary.phrases))
        return session

    async def reconcile(self) -> None:
        """After a (re)connect: speech channels and bridges no session of this process owns
        (left by a process that died, or ended while ARI was away) are hung up."""
        ari = self.ari
        mine = {i for s in self.sessions.values() for i in (s.snoop_id, s.media_id, s.bridge_id)}
        kinds = (Kind.SPEECH_SNOOP, Kind.SPEECH_MEDIA)
        stale = [c.id for c in await ari.list_channels()
                 if ids.kind_of(c.id) in kinds and c.id not in mine]
        bridges = [b.id for b in await ari.list_bridges()
                   if ids.kind_of(b.id) is Kind.SPEECH_BRIDGE and b.id not in mine]
        if stale or bridges:
            log.info("speech: hanging up %d channels and %d bridges left over", len(stale),
                     len(bridges))
        await asyncio.gather(*(_safe(ari.hangup(c)) for c in stale),
                             *(_safe(ari.destroy_bridge(b)) for b in bridges))

    def in_stasis(self, channel_id: str) -> None:
        """A speech channel entered Stasis (StasisStart)."""
        session = self.sessions.get(channel_id) or self._by_media.get(channel_id)
        if session is not None and channel_id in session.in_stasis:
            session.in_stasis[channel_id].set()

    async def ended(self, channel_id: str) -> None:
        """A speech channel left Stasis (the caller hung up, Asterisk restarted)."""
        session = self.sessions.get(channel_id)
        if session is not None:
            await session.stop()


async def _safe(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except AriError as exc:
        log.debug("speech teardown: %s", exc)

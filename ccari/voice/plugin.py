"""Wiring of the voice ACD once ARI exists: the service, its Stasis owners and the agent's
call controls.

Unlike the other contexts, voice is installed after every plugin (they hand it their ports:
the IVR's callbacks, voicemail, speech) and before ARI connects (its reconcile runs on the
first connect)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import aiohttp

from ccari.agents.phones import PhoneWatch, poll_interval
from ccari.ari.events import StasisStart
from ccari.ari.router import StasisRouter
from ccari.pbx.spec import peer_key
from ccari.provisioning.prompts import sound_prefix
from ccari.routing import CALLS
from ccari.voice import stasis
from ccari.voice.adoption import Adoption, parse_standby
from ccari.voice.conference import Conferences
from ccari.voice.conference import register as conference_stasis
from ccari.voice.consult_commands import ConsultCommands
from ccari.voice.consults import Consults
from ccari.voice.consults import register as consults_stasis
from ccari.voice.controls import CallControls
from ccari.voice.replay import CallReplay, CallsHere
from ccari.voice.services import VoiceService
from ccari.voice.transfers import Transfers
from ccari.voice.transfers import register as transfers_stasis

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.storage.batch import GroupCommit


async def install(rt: Runtime, stack: contextlib.AsyncExitStack, ari: AriClient,
                  writes: GroupCommit) -> tuple[StasisRouter, VoiceService]:
    """Build the voice ACD on ``ari`` (``rt.voice``); return the Stasis router the other
    contexts that place or take calls attach to, and the ACD."""
    cfg, queue, admission = rt.config, rt.queue, rt.admission
    assert admission is not None and rt.outward is not None
    # Its offers, connects and ends are told to the agent's pages on whatever node serves them.
    voice = rt.voice = VoiceService(ari, rt.sessions, queue, queue.pages, cfg.voice, node=cfg.node,
                                    admission=admission, writes=writes,
                                    callbacks=rt.ivr_callbacks, voicemail=rt.voicemail,
                                    speech=rt.speech, legs=rt.legs,
                                    prompts=sound_prefix(cfg))
    for medium in CALLS:  # a call to the agent's phone, with or without video
        queue.register(medium.value, voice)
    # Every Stasis event goes to its one owner (the voice ACD, the callbacks...).
    router = StasisRouter(ari)
    stasis.register(ari, router, voice)
    # Blind transfers (a skill, a colleague, an outside number), page and REST.
    transfers = Transfers(voice, queue, admission, rt.outward, trunk=cfg.callbacks.trunk,
                          host=cfg.callbacks.outbound_host(cfg.pbx))
    transfers.register_commands(rt.commands)
    transfers_stasis(ari, router, transfers)
    consults = Consults(voice, queue, rt.hub, transfers)  # consultative transfers
    ConsultCommands(voice, queue, transfers, consults).register_commands(rt.commands)
    consults_stasis(ari, router, consults)
    # The agent's conference: parties added, listed, muted, removed; she may leave.
    conferences = Conferences(voice, queue, rt.hub, transfers, consulting=consults.under_way)
    conferences.register_commands(rt.commands)
    conference_stasis(ari, router, conferences)
    # The agent's call controls (hold, mute, hang up, wrap-up), page and REST.
    CallControls(voice, queue, consulting=consults.under_way).register_commands(rt.commands)
    # A reopened agent page gets her calls back, each as she left it: with several nodes,
    # those the other nodes carry too (this node answers them about its own).
    here = CallsHere(voice, voice.page_views, consulting=consults.under_way)
    if rt.calls_elsewhere is not None:
        rt.calls_elsewhere.serve(here.parts)
    CallReplay(voice.sessions, rt.hub, voice.now, here=here,
               elsewhere=rt.calls_elsewhere).register_commands(rt.commands)
    # Agent phones Asterisk cannot reach get no calls (read on connect, then polled).
    phones = PhoneWatch(ari, queue, interval_s=poll_interval(cfg.pbx.agent_qualify_s))
    ari.on_connected(phones.reconcile)
    stack.push_async_callback(phones.close)
    stack.push_async_callback(voice.close)
    if cfg.cluster.enabled and cfg.cluster.standby_ari:
        _adoption(rt, stack, router, voice, await stack.enter_async_context(aiohttp.ClientSession()))
    return router, voice


def _adoption(rt: Runtime, stack: contextlib.AsyncExitStack, router: StasisRouter,
              voice: VoiceService, http: aiohttp.ClientSession) -> None:
    """Waiting callers of the Asterisk nodes this one stands in for, taken over here when
    their ccari node dies (by the routing leader: ccari.cluster.lost)."""
    cfg = rt.config
    adoption = rt.adoption = Adoption(
        voice, http, parse_standby(cfg.cluster.standby_ari), own_uri=cfg.media_uri,
        peer_key=peer_key(cfg.pbx.ari_password), timeout_s=cfg.cluster.adopt_timeout_s,
        relay=rt.commands.relay)
    stack.push_async_callback(adoption.close)
    owner = router.owner("adoption", stasis_args=("adopt",))

    async def on_start(ev: StasisStart) -> None:
        await adoption.arrived(ev.channel.id, ev.args[1] if len(ev.args) > 1 else "")

    owner.on(StasisStart, on_start)

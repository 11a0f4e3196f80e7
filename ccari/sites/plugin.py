"""Wiring of the sites: the bandwidth manager (its capacities read at start), the voice
ACD's leg planner (every leg dialled, given back when its channel is destroyed), the
queue's voice gate, the reconcile on every ARI connect, and the API.  With several nodes,
this node's Asterisk is offered to the others as a media node while its ARI is connected."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.ari.events import ChannelDestroyed
from ccari.pbx.spec import peer_key
from ccari.sites import http
from ccari.sites.services import SiteBandwidth
from ccari.sites.shared import SharedLegs

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.voice.services import VoiceService


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    # Legs go out from the Asterisk this ccari drives, by its instance name; several nodes
    # add up each site's load from every node's legs.
    node = rt.config.pbx.instance
    shared = SharedLegs(rt.sessions, rt.bus) \
        if rt.config.cluster.enabled and rt.bus is not None else None
    sites = SiteBandwidth(rt.sessions, rt.config.sites, nodes=(node,), shared=shared)
    await sites.start()
    pbx = rt.config.pbx
    offered = shared is not None and rt.carries_calls and bool(pbx.ari_password)
    rt.legs = rt.sites = sites
    rt.queue.voice_room = sites.has_room
    sites.room_changed.append(rt.queue.voice_room_changed)
    rt.internal_setups.append(http.internal_setup(sites))

    def attach(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
        ari.on_connected(lambda: sites.reconcile(ari, node))
        if offered and shared is not None:
            # Other nodes may place agent legs from this Asterisk (sites.legs_from) while
            # this ccari drives it.
            key = peer_key(pbx.ari_password)
            ari.on_connected(lambda: shared.register(node, rt.config.media_uri, key))
            ari.on_disconnected(lambda: shared.unregister(node))

        async def gone(ev: ChannelDestroyed) -> None:
            # Every counted leg's bandwidth is given back when its channel ends, whichever
            # context owns it (an agent's offer, a consult, a conference, a supervisor).
            await sites.release(ev.channel.id)

        ari.on(ChannelDestroyed, gone)

    rt.pbx_setups.append(attach)

"""Reconnect, then reconcile: rebuild the voice calls from Asterisk's live channels and the DB.

Asterisk replays nothing after the ARI websocket comes back, and after a ccari restart the
memory is empty.  For each open voice contact of this node the live channels decide:

* caller gone                      -> abandoned / completed now;
* in the IVR                       -> the menu starts again (a fresh prompt, not silence);
* overflow voicemail               -> still recording: wait for its end; recorded: kept now;
                                      nothing yet: the prompt again (or abandoned);
* queued                           -> music on hold and announcements resume;
* offered, agent leg answered      -> bridged now (its StasisStart was missed);
* offered, agent leg still ringing -> kept ringing if we know it, else hung up and re-queued;
* connected, both legs up          -> kept; the agent stays busy until a leg hangs up.

Channels in our Stasis app that no contact knows (a call that arrived while the socket was
down) are treated as new inbound calls.
"""

from __future__ import annotations

import logging

from ccari.ari import ids
from ccari.ari.ids import Kind
from ccari.ari.models import Channel
from ccari.contacts import repo
from ccari.storage.models import Number
from ccari.tenants import repo as tenants_repo
from ccari.tenants.directory import menu_of
from ccari.voice.calls import Call, QueueSettings
from ccari.voice.services import VoiceService, agent_channel_of

log = logging.getLogger(__name__)


async def reconcile(service: VoiceService) -> None:
    ari = service._ari
    channels = {c.id: c for c in await ari.list_channels()}
    bridges = {b.id: b for b in await ari.list_bridges()}
    async with service._sessions() as s:
        contacts = await repo.open_contacts(s, service._node, "voice")
        settings: dict[int | None, QueueSettings] = {}
        menus = {}
        for c in contacts:
            if c.queue_id not in settings:
                q = await tenants_repo.queue(s, c.tenant_id, c.queue_id)
                settings[c.queue_id] = QueueSettings.of(q, service._cfg)
            if c.state == "ivr" and c.number_id is not None and c.id not in menus:
                number = await s.get(Number, c.number_id)
                if number is not None:
                    menus[c.id] = await tenants_repo.menu(s, c.tenant_id, number.ivr_menu_id)
    known: set[str] = set()
    for contact in contacts:
        agent_leg = contact.agent_channel_id or (
            agent_channel_of(contact) if contact.state == "offered" else None)
        known.update(x for x in (contact.channel_id, agent_leg) if x)
        call = service.calls.by_contact(contact.id)
        fresh = call is None
        if call is None:
            assert contact.channel_id is not None
            call = Call(contact.id, contact.tenant_id, contact.channel_id,
                        settings[contact.queue_id], phase=contact.state,
                        agent_id=contact.agent_id, bridge_id=contact.bridge_id)
            service.calls.add(call)
            call.overflow = (contact.attributes or {}).get("_overflow")
            if agent_leg:
                service.calls.link_agent_channel(call, agent_leg)
        if fresh and call.overflow == "voicemail":
            async with call.lock:
                if await service.overflow.recorder.resume(call):
                    continue
        if contact.channel_id not in channels:
            log.info("reconcile: contact %s lost its caller while we were away", contact.id)
            await service.channel_gone(contact.channel_id or "")
            continue
        agent_ch = channels.get(agent_leg or "")
        async with call.lock:
            if contact.state == "ivr" and fresh:
                menu = menus.get(contact.id)
                await service._treat(call, menu_of(menu) if menu is not None else None)
            elif contact.state == "queued" and fresh:
                call.moh = None  # whatever the previous process left playing
                service._start_announcer(call)
            elif contact.state == "offered":
                if agent_ch is not None and agent_ch.state == "Up":
                    log.info("reconcile: contact %s was answered while we were away", contact.id)
                    await service._connect(call)
                elif not fresh and agent_ch is None:
                    await service._offer_failed(call)
                elif fresh:
                    # The ring was started by a process that is gone: stop it, queue again.
                    if agent_ch is not None:
                        await service._hangup(agent_ch.id, "normal")
                    await service._requeue_after_restart(call)
            elif contact.state == "connected" and agent_ch is None:
                await service._finish(call, "agent-hangup")
    for ch in channels.values():
        if ch.id in known or service.calls.by_channel(ch.id) is not None:
            continue
        if _is_ours(ch, service._ari.app):
            log.info("reconcile: channel %s arrived while we were away", ch.id)
            service._tasks.spawn(
                service.inbound(ch.id, ch.dialplan.exten, ch.caller.number or None,
                                ch.caller.name or None),
                f"late-{ch.id}",
            )
    ours = {ids.make(Kind.BRIDGE, c.id) for c in contacts}
    for bridge_id in bridges:
        if ids.kind_of(bridge_id) is Kind.BRIDGE and bridge_id not in ours:
            await service._safe(ari.destroy_bridge(bridge_id))


def _is_ours(channel: Channel, app: str) -> bool:
    return bool( channel.dialplan.app_name == "Stasis" and channel.dialplan.app_data.startswith(
        f"{app},inbound"
    ))

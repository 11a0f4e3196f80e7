"""Reconnect, then reconcile: the callback calls of this node against Asterisk's channels.

Runs after every ARI (re)connect, before the scheduler places anything.  Asterisk replays
no event, and after a restart the memory is empty; the database says which attempts were
placed (committed before their originate) and the channel list says which still exist:

* attempt in flight, channel there, ringing  -> adopted: its answer or hang-up is handled;
* attempt in flight, channel there and up    -> answered while we were away: prompt now;
* attempt in flight, channel gone            -> ``unknown`` (it may have rung): never sent
  again; the next attempt, with a new id, follows the backoff;
* customer at the prompt                     -> the prompt starts again, or, gone,
  ``not-confirmed``;
* claimed for dialling but no attempt saved  -> nothing was sent: the same try, now;
* agent first, from a previous process       -> its agent and customer legs are hung up
  (their bridge can no longer be made safely); the contact goes back to the queue, or the
  customer attempt ends ``agent-gone`` and is retried later.
"""

from __future__ import annotations

import logging

from ccari import logs
from ccari.callbacks import repo
from ccari.callbacks.dialer import Dialer
from ccari.callbacks.legs import Leg, callback_of
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact

log = logging.getLogger(__name__)


async def reconcile(dialer: Dialer) -> None:
    ari = dialer.ari
    channels = {c.id: c for c in await ari.list_channels()}
    async with dialer.sessions() as s:
        offered = [c for c in await contacts_repo.open_contacts(s, dialer.node, "callback")
                   if c.state == "offered"]
        flying = await repo.in_flight(s, dialer.node)
        prompting = await repo.at_prompt(s, dialer.node)
        stranded = [cb.id for cb in await repo.stranded(s, dialer.node)]
        modes = {}
        for att in [*flying, *prompting]:
            cb = await repo.get(s, att.callback_id)
            modes[att.id] = cb.mode if cb else "customer_first"
    for callback_id in stranded:
        if callback_id not in dialer.placing:
            await dialer.service.outcomes.unstick(callback_id)
    # Agent legs of this process that vanished while the socket was down.
    for leg_id in list(dialer.agent_first.legs):
        if leg_id not in channels:
            await dialer.channel_gone(leg_id, None)
    stale_agent_first: set[str] = set()
    for contact in offered:
        leg_id = contact.agent_channel_id or ""
        if leg_id in dialer.agent_first.legs:
            continue
        log.info("reconcile: callback contact %s was offered by a previous process", contact.id,
                 extra=logs.about(contact.id, contact.tenant_id))
        if leg_id in channels:
            await dialer.safe(ari.hangup(leg_id, reason="normal"))
        stale_agent_first.add(contact.id)
        async with dialer.sessions() as s:
            row = await contacts_repo.get(s, contact.id, for_update=True)
            if row is not None and row.state == "offered":
                await contacts_repo.apply(s, row, Fact.DECLINED, at=dialer.now(), agent_id=None,
                                               agent_channel_id=None)
                await s.commit()
    for att in flying:
        known = dialer.legs.get(att.id)
        channel = channels.get(att.id)
        if channel is None:
            log.info("reconcile: attempt %s is gone from Asterisk: closed as unknown", att.id)
            await dialer.ended(att.id, "unknown")
        elif modes.get(att.id) == "agent_first" and (known is None or known.agent_leg is None):
            log.info("reconcile: attempt %s lost its agent leg: hung up", att.id)
            await dialer.ended(att.id, "agent-gone")
            await dialer.safe(ari.hangup(att.id, reason="normal"))
        elif known is None:
            log.info("reconcile: attempt %s still %s in Asterisk: adopted", att.id, channel.state)
            dialer.legs[att.id] = Leg(att.id, callback_of(att.id))
            if channel.state == "Up":
                await dialer.customer_answered(att.id)
    for att in prompting:
        if att.id not in channels:
            await dialer.ended(att.id, "not-confirmed")
        elif att.id not in dialer.legs:
            log.info("reconcile: attempt %s is at the prompt: playing it again", att.id)
            leg = Leg(att.id, callback_of(att.id), phase="prompt")
            dialer.legs[att.id] = leg
            await dialer.prompt(leg)
    if stale_agent_first:
        log.info("reconcile: %d agent-first callbacks offered again", len(stale_agent_first))

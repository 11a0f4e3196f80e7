"""ARI events -> FaxService: the fax context's declaration to the Stasis router and its
handlers.  ARI has no fax resource, so a fax call leaves Stasis for the ``ccari-fax``
context (``dialplans/ccari.conf.j2``) and stays ccari's: before it goes, ccari subscribes
to the channel, and the context's hang-up handler reports res_fax's result as the
``CcariFax`` user event, which settles the fax.  A channel destroyed with no report (or one
gone while ccari was away, found on reconnect) settles as failed.
"""

from __future__ import annotations

import logging

from ccari.ari import AriClient
from ccari.ari.errors import AriError
from ccari.ari.events import ChannelDestroyed, ChannelUserevent, StasisStart
from ccari.ari.router import StasisRouter
from ccari.fax.core import Report
from ccari.fax.services import FaxService

log = logging.getLogger(__name__)
CONTEXT = "ccari-fax"
EVENT = "CcariFax"


def register(ari: AriClient, router: StasisRouter, faxes: FaxService) -> None:
    owner = router.owner("fax", stasis_args=("fax",))

    async def on_start(ev: StasisStart) -> None:
        if len(ev.args) < 3:
            log.debug("ignoring fax StasisStart of %s with args %s", ev.channel.id, ev.args)
            return
        channel = ev.channel.id
        path = await faxes.arrived(channel, ev.args[1], ev.args[2], ev.channel.caller.number)
        if path is None:
            log.warning("fax call %s to %s (%s): not a fax number of that tenant",
                        channel, ev.args[1], ev.args[2])
            await ari.hangup(channel, reason="unallocated")
            return
        try:
            await ari.subscribe_channel(channel)
            await ari.set_var(channel, "CCARI_FAX_FILE", path)
            await ari.continue_in_dialplan(channel, CONTEXT, "receive", 1)
        except AriError as exc:
            log.warning("fax call %s could not be handed to the dialplan: %s", channel, exc)
            await faxes.settle(channel, Report.lost("ccari-error"))
            await ari.hangup(channel, reason="congestion")

    async def on_report(ev: ChannelUserevent) -> None:
        if ev.eventname == EVENT and ev.channel is not None:
            await faxes.settle(ev.channel.id, Report.parse(ev.userevent))

    async def on_destroyed(ev: ChannelDestroyed) -> None:
        await faxes.settle(ev.channel.id, Report.lost("no-report"))

    async def reconcile() -> None:
        """Faxes whose channel ended while ccari was away are settled as failed."""
        live = {c.id for c in await ari.list_channels()}
        for channel in await faxes.receiving():
            if channel not in live:
                await faxes.settle(channel, Report.lost("lost-while-away"))

    owner.on(StasisStart, on_start)
    owner.on(ChannelUserevent, on_report)
    owner.on(ChannelDestroyed, on_destroyed)
    ari.on_connected(reconcile)

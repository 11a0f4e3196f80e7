"""ARI events -> FaxService: the fax context's declaration to the Stasis router and its
handlers.  ARI has no fax resource, so a fax call leaves Stasis for the ``ccari-fax``
context (``dialplans/ccari.conf.j2``) and stays ccari's: before it goes, ccari subscribes
to the channel, and the context's hang-up handler reports res_fax's result as the
``CcariFax`` user event, which settles the fax.  ccari answers a fax as the number it was
dialled on (its T.30 station id, ``FAXOPT(localstationid)``: what the sending machine
reports as the receiver).  A channel destroyed with no report (or one gone while ccari was
away, found on reconnect) settles as failed.  Faxes sent go the same way: the attempt's
channel (``fxo-<send>-<n>``, Stasis argument ``faxout``) leaves for ``ccari-fax,send`` once
answered, naming itself by the tenant's caller id it was dialled with (its station id,
which the receiving machine prints on each page's header and reports), and its report names
the station id of the machine that took it.
"""

from __future__ import annotations

import contextlib
import logging

from ccari.ari import AriClient
from ccari.ari.errors import AriError, AriNotFound
from ccari.ari.events import ChannelDestroyed, ChannelUserevent, StasisStart
from ccari.ari.ids import Kind, kind_of
from ccari.ari.rest import HangupReason
from ccari.ari.router import StasisRouter
from ccari.fax.core import Report, station_id
from ccari.fax.sending import FaxSender
from ccari.fax.services import FaxService

log = logging.getLogger(__name__)
CONTEXT = "ccari-fax"
EVENT = "CcariFax"
DETECTED = "fax-detected"  # a voice call whose fax tones Asterisk found (ccari.fax.detect)


def _sending(channel_id: str) -> bool:
    """An attempt's own channel (a Local channel's other half, ``<id>;2``, is the far end)."""
    return kind_of(channel_id) is Kind.FAX_OUT and ";" not in channel_id


async def _to_dialplan(ari: AriClient, channel: str, path: str, exten: str,
                       station: str = "") -> bool:
    """Send the call to the fax context's ``exten`` with its TIFF's ``path`` (and the
    ``station`` id ccari's machine gives itself)."""
    try:
        await ari.subscribe_channel(channel)
        await ari.set_var(channel, "CCARI_FAX_FILE", path)
        if station:
            await ari.set_var(channel, "FAXOPT(localstationid)", station)
        await ari.continue_in_dialplan(channel, CONTEXT, exten, 1)
        return True
    except AriError as exc:
        log.warning("fax call %s could not be handed to the dialplan: %s", channel, exc)
        return False


def register(ari: AriClient, router: StasisRouter, faxes: FaxService, sender: FaxSender) -> None:
    # Fax calls being received: their events are ours even when this process did not see
    # their StasisStart (taken or found live by the reconcile after a restart).
    held: set[str] = set()
    owner = router.owner("fax", stasis_args=("fax", "faxout", DETECTED),
                         kinds=(Kind.FAX_OUT,), holds=held.__contains__)
    sender.ari = ari

    async def on_start(ev: StasisStart) -> None:
        if ev.args and ev.args[0] == "faxout":
            path = await sender.answered(ev.channel.id)
            number = ev.channel.caller.number  # the tenant's caller id it was dialled with
            station = station_id(number) if number else ""
            if path is None or not await _to_dialplan(ari, ev.channel.id, path, "send", station):
                await sender.ended(ev.channel.id, Report.lost("ccari-error"))
                await _hang_up(ari, ev.channel.id)
            return
        if len(ev.args) < 3:
            log.debug("ignoring fax StasisStart of %s with args %s", ev.channel.id, ev.args)
            return
        await take(ev.channel.id, ev.args[0], ev.args[1], ev.args[2], ev.channel.caller.number)

    async def take(channel: str, how: str, did: str, tenant: str, sender: str | None) -> None:
        if how == DETECTED:  # fax tones on a voice number (fax.detect): the tenant's id
            path = (await faxes.detected(channel, did, int(tenant), sender)
                    if tenant.isascii() and tenant.isdigit() else None)
        else:
            path = await faxes.arrived(channel, did, tenant, sender)
        held.add(channel)
        if path is None:
            log.warning("fax call %s to %s (%s, %s): not a fax number of that tenant",
                        channel, did, tenant, how)
            await _hang_up(ari, channel, "unallocated")
            return
        if not await _to_dialplan(ari, channel, path, "receive", station_id(did)):
            await faxes.settle(channel, Report.lost("ccari-error"))
            await _hang_up(ari, channel, "congestion")

    async def on_report(ev: ChannelUserevent) -> None:
        if ev.eventname != EVENT or ev.channel is None:
            return
        if _sending(ev.channel.id):
            await sender.ended(ev.channel.id, Report.parse(ev.userevent))
        else:
            await faxes.settle(ev.channel.id, Report.parse(ev.userevent))

    async def on_destroyed(ev: ChannelDestroyed) -> None:
        if _sending(ev.channel.id):  # not answered, or gone without a report
            why = ev.cause_txt.lower().replace(" ", "-")[:64] if ev.cause_txt else "no-report"
            await sender.ended(ev.channel.id, Report.lost(why, ev.cause or 0))
        else:
            await faxes.settle(ev.channel.id, Report.lost("no-report"))
            held.discard(ev.channel.id)

    async def reconcile() -> None:
        """Fax calls that reached Stasis while ccari was away are taken now; faxes whose
        channel ended meanwhile are settled from what Asterisk wrote."""
        channels = await ari.list_channels()
        live = {c.id for c in channels}
        waiting = tuple(f"{ari.app},{how}," for how in ("fax", DETECTED))
        for ch in channels:
            if ch.dialplan.app_name == "Stasis" and ch.dialplan.app_data.startswith(waiting):
                args = ch.dialplan.app_data.split(",")
                if len(args) >= 4:
                    log.info("reconcile: fax call %s arrived while we were away", ch.id)
                    await take(ch.id, args[1], args[2], args[3], ch.caller.number)
        for channel in await faxes.receiving():
            if channel in live:
                held.add(channel)  # still in ReceiveFax: its report will come to us
            else:
                await faxes.settle(channel, Report.lost("lost-while-away"))
        for attempt in await sender.open_attempts():  # never dialled again: failed
            if attempt not in live:
                await sender.ended(attempt, Report.lost("lost-while-away"))
        await sender.plan_retries()  # the ones a previous process had planned

    owner.on(StasisStart, on_start)
    owner.on(ChannelUserevent, on_report)
    owner.on(ChannelDestroyed, on_destroyed)
    ari.on_connected(reconcile)


async def _hang_up(ari: AriClient, channel: str, reason: HangupReason | None = None) -> None:
    """Hang up a fax call; one already gone (its sender gave up first) is no error."""
    with contextlib.suppress(AriNotFound):
        await ari.hangup(channel, reason=reason)

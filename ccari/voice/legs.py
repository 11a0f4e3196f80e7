"""What the contexts that dial a third party into a call share (transfers, consults, the
conference, supervision): the Stasis declaration (each owns the legs whose ids are of its
kind), and the dialling of a leg with its bandwidth counted."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from ccari.ari import AriClient, ids
from ccari.ari.errors import AriConflict, AriError
from ccari.ari.events import ChannelDestroyed, StasisEnd, StasisStart
from ccari.ari.ids import Kind
from ccari.ari.router import StasisRouter
from ccari.voice.ports import LegPlanner, leg_formats


class LegOwner(Protocol):
    def answered(self, leg: str, contact_id: str) -> Awaitable[None]: ...
    def leg_gone(self, leg: str) -> Awaitable[None]: ...
    def reconcile(self) -> Awaitable[None]: ...


def register_legs(ari: AriClient, router: StasisRouter, name: str, stasis_arg: str,
                  leg: Kind, owner_of: LegOwner, *, also: Sequence[Kind] = ()) -> None:
    """``owner_of`` gets its legs' answers (``Stasis(app, <stasis_arg>, <contact id>)``)
    and ends, and reconciles them on every ARI connect; ``also``: further kinds of ids it
    makes (a bridge of its own)."""
    owner = router.owner(name, stasis_args=(stasis_arg,), kinds=(leg, *also),
                         holds=lambda channel: ids.kind_of(channel) is leg)

    async def on_start(ev: StasisStart) -> None:
        if len(ev.args) >= 2 and ev.args[0] == stasis_arg:
            await owner_of.answered(ev.channel.id, ev.args[1])

    async def on_gone(ev: StasisEnd | ChannelDestroyed) -> None:
        await owner_of.leg_gone(ev.channel.id)

    owner.on(StasisStart, on_start)
    owner.on(StasisEnd, on_gone)
    owner.on(ChannelDestroyed, on_gone)
    ari.on_connected(owner_of.reconcile)


async def dial(ari: AriClient, legs: LegPlanner, tenant_id: int, endpoint: str, leg: str,
               *, video: bool = False, **originate: Any) -> None:
    """Originate ``leg`` to ``endpoint``, counted on its site and media node (the codecs its
    site has room for) from now until its channel ends; its id in the INVITE; ``video``: a
    video call's leg to a phone that takes video, rung with the video codec too.  A failed
    originate gives the bandwidth back (not one that was dialled already: it lives)."""
    plan = await legs.dial(tenant_id, endpoint, leg)
    formats = ",".join(leg_formats(plan, video=video)) or None
    try:
        await ari.originate(endpoint, channel_id=leg, formats=formats,
                            variables={**ids.sip_header(endpoint, leg), **plan.variables},
                            **originate)
    except AriConflict:
        raise
    except AriError:
        await legs.release(leg)
        raise

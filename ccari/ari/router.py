"""The Stasis router: every ARI event of ccari's app goes to its one owner, nobody else.

Contexts that place or take calls (the voice ACD, callbacks...) each declare themselves
once with :meth:`StasisRouter.owner`:

* the first ``Stasis()`` argument of the calls they take (``inbound``, ``callback``...);
* the kinds of ids they make (:mod:`ccari.ari.ids`);
* ``holds``: whether a channel is theirs now (a call handed from one context to the
  other, or rebuilt after a restart, is theirs from then on).

Then they register handlers on their :class:`Owner` handle, by event type.  An event goes to:

* ``StasisStart``: the owner of its first Stasis argument, else of its channel id's kind;
* other channel events (and a channel's ``UserEvent()``): the owner that ``holds`` the
  channel, else the one its StasisStart went to, else the owner of the channel id's kind;
* playback, recording and bridge events: the owner of the kind of the playback id, the
  recording name or the bridge id.

An event nobody owns is logged at DEBUG and dropped.  The router registers on the ARI
client only the event types some owner handles, so the client's event filter asks Asterisk
for nothing more.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from ccari.ari.client import AriClient
from ccari.ari.events import (
    BridgeCreated,
    BridgeDestroyed,
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelEvent,
    ChannelLeftBridge,
    ChannelUserevent,
    Event,
    PlaybackEvent,
    RecordingEvent,
    StasisStart,
    event_types,
)
from ccari.ari.ids import Kind, kind_of

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None] | None]
_RECENT = 4096  # channels whose StasisStart owner is remembered after they left


class Owner:
    """One context's handle: its handlers, by event type."""

    def __init__(self, router: StasisRouter, name: str, holds: Callable[[str], bool]) -> None:
        self.name = name
        self.holds = holds
        self._router = router
        self._handlers: dict[type, list[Handler[Event]]] = {}

    def on(self, event_type: type[E], handler: Handler[E]) -> None:
        self._handlers.setdefault(event_type, []).append(handler)  # type: ignore[arg-type]
        self._router._listen(event_type)

    async def deliver(self, event: Event) -> None:
        for cls in type(event).__mro__:
            for handler in self._handlers.get(cls, ()):
                try:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("%s: handler %r failed on %s", self.name, handler, event.name)


class StasisRouter:
    def __init__(self, ari: AriClient) -> None:
        self._ari = ari
        self._owners: list[Owner] = []
        self._by_arg: dict[str, Owner] = {}
        self._by_kind: dict[Kind, Owner] = {}
        self._started: OrderedDict[str, Owner] = OrderedDict()  # channel -> its StasisStart's
        self._listening: set[type] = set()

    def owner(self, name: str, *, stasis_args: Iterable[str] = (), kinds: Iterable[Kind] = (),
              holds: Callable[[str], bool] = lambda _channel: False) -> Owner:
        """Declare a context; a Stasis argument or an id kind has one owner only."""
        owner = Owner(self, name, holds)
        for arg in stasis_args:
            if arg in self._by_arg:
                raise ValueError(f"Stasis argument {arg!r} already belongs to {self._by_arg[arg].name}")
            self._by_arg[arg] = owner
        for kind in kinds:
            if kind in self._by_kind:
                raise ValueError(f"id kind {kind.value!r} already belongs to {self._by_kind[kind].name}")
            self._by_kind[kind] = owner
        self._owners.append(owner)
        return owner

    def _listen(self, event_type: type) -> None:
        """Route every concrete ARI event type under ``event_type`` (each once)."""
        for leaf in event_types().values():
            if issubclass(leaf, event_type) and leaf not in self._listening:
                self._listening.add(leaf)
                self._ari.on(leaf, self._route)

    def owner_of(self, event: Event) -> Owner | None:
        """Who gets ``event`` (see the module docstring); None: nobody."""
        if isinstance(event, StasisStart):
            arg = event.args[0] if event.args else ""
            owner = self._by_arg.get(arg) or self._kind_owner(event.channel.id)
            if owner is not None:
                self._started[event.channel.id] = owner
                self._started.move_to_end(event.channel.id)
                while len(self._started) > _RECENT:
                    self._started.popitem(last=False)
            return owner
        if isinstance(event, ChannelEvent):
            return self._channel_owner(event.channel.id)
        if isinstance(event, ChannelUserevent):  # the dialplan's UserEvent() on a channel
            return self._channel_owner(event.channel.id) if event.channel is not None else None
        if isinstance(event, PlaybackEvent):
            return self._kind_owner(event.playback.id)
        if isinstance(event, RecordingEvent):
            return self._kind_owner(event.recording.name)
        if isinstance(event, BridgeCreated | BridgeDestroyed | ChannelEnteredBridge | ChannelLeftBridge):
            return self._kind_owner(event.bridge.id)
        return None

    def _channel_owner(self, channel_id: str) -> Owner | None:
        holding = [o for o in self._owners if o.holds(channel_id)]
        if len(holding) > 1:  # a hand-over in progress: the first declared owner still has it
            log.debug("channel %s is held by %s: %s gets its events", channel_id,
                      [o.name for o in holding], holding[0].name)
        if holding:
            return holding[0]
        return self._started.get(channel_id) or self._kind_owner(channel_id)

    def _kind_owner(self, object_id: str) -> Owner | None:
        kind = kind_of(object_id)
        return self._by_kind.get(kind) if kind is not None else None

    async def _route(self, event: Event) -> None:
        owner = self.owner_of(event)
        if owner is None:
            log.debug("ARI %s has no owner: dropped", event.name)
            return
        await owner.deliver(event)
        if isinstance(event, ChannelDestroyed):  # after StasisEnd it may still come: kept till now
            self._started.pop(event.channel.id, None)

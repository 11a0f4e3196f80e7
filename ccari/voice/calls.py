"""In-memory view of the calls this node handles, rebuilt from ARI + DB after a reconnect."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from ccari.logs import ContactLock
from ccari.routing import Medium
from ccari.voice.ivr import Ivr
from ccari.voice.ports import SpeechSession


class _Timings(Protocol):  # a queue row, or the voice config
    @property
    def ring_timeout_s(self) -> int: ...

    @property
    def wrap_up_s(self) -> float: ...

    @property
    def announce_every_s(self) -> float: ...


@dataclass(frozen=True)
class QueueSettings:
    ring_timeout_s: int
    wrap_up_s: float
    announce_every_s: float
    # Played once as the caller joins the queue (``tenant:<tenant id>/<name>``); None: none.
    greeting: str | None = None

    @classmethod
    def of(cls, queue: _Timings | None, defaults: _Timings) -> QueueSettings:
        """A queue's own timings, or the voice config's when the call has no queue."""
        t = queue or defaults
        return cls(t.ring_timeout_s, t.wrap_up_s, t.announce_every_s)


@dataclass
class Call:
    contact_id: str
    tenant_id: int
    channel_id: str
    settings: QueueSettings
    # voice, or video (a video call from the customer's page: bridged with its video)
    medium: Medium = Medium.VOICE
    # A call from the customer's page: its anonymous SIP identity (what ccari's relay knows
    # the page by; in memory only: the relay's websocket does not outlive this process).
    web_identity: str | None = None
    # The codec the agent's phone was rung with (the screen pop's), when one was chosen.
    codec: dict[str, Any] | None = None
    # The customer switched the video call to audio only (saved in the contact's log).
    audio_only: bool = False
    phase: str = "ivr"  # ivr | recording | queued | offered | connected | closed | ended
    ivr: Ivr | None = None
    playback_id: str | None = None
    agent_id: int | None = None
    agent_channel_id: str | None = None
    # The offer's leg goes out from another node's Asterisk (its name), and whether her
    # phone has rung there yet: a leg that fails before it rings is the hop's failure.
    agent_via: str | None = None
    agent_rang: bool = False
    bridge_id: str | None = None
    # Music on hold is playing on the caller's channel (None: unknown, after a restart).
    moh: bool | None = False
    timer: asyncio.Task[Any] | None = None
    announcer: asyncio.Task[Any] | None = None
    # Queue announcements played to it so far (each playback gets an id of its own).
    announcements: int = 0
    # Held for every step of the call; the log lines of that work carry its contact.
    lock: asyncio.Lock = field(init=False)
    # An answering overflow treatment ("callback" offer, "voicemail"): never queued.
    overflow: str | None = None
    # Outside its number's business hours (its after-hours route, not the normal queue).
    after_hours: bool = False
    # What it hears first there (a tenant's ``tenant:<id>/<name>``); None: ccari's own prompt.
    closed_prompt: str | None = None
    # Its queue's greeting was played (once per join: again after a blind transfer, not
    # after a declined offer's re-queue).
    greeted: bool = False
    # The agent's hold: since when (time.monotonic()) the caller is held, and the seconds of
    # the holds already ended.
    held_at: float | None = None
    hold_s: float = 0.0
    # The agent muted her phone's audio (the customer does not hear her).
    muted: bool = False
    # A supervisor took the call over: her phone's leg is the agent leg from then on.
    taken_over_by: int | None = None
    # The caller's spoken answers to the IVR are being listened to (ccari.speech).
    speech: SpeechSession | None = None
    # The caller's trunk was given back to admission (once per call, whichever leg ends it).
    trunk_released: bool = False

    def __post_init__(self) -> None:
        self.lock = ContactLock(self.contact_id, self.tenant_id)

    def hold_total(self, now: float) -> float:
        """Seconds on hold so far, the hold under way included."""
        return self.hold_s + (now - self.held_at if self.held_at is not None else 0.0)

    def cancel_timers(self) -> None:
        for task in (self.timer, self.announcer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self.timer = self.announcer = None


class CallRegistry:
    """Finds a call by contact id or by either of its channels."""

    def __init__(self) -> None:
        self._by_contact: dict[str, Call] = {}
        self._by_channel: dict[str, Call] = {}

    def add(self, call: Call) -> None:
        self._by_contact[call.contact_id] = call
        self._by_channel[call.channel_id] = call

    def link_agent_channel(self, call: Call, channel_id: str) -> None:
        if call.agent_channel_id:
            self._by_channel.pop(call.agent_channel_id, None)
        call.agent_channel_id = channel_id
        self._by_channel[channel_id] = call

    def unlink_agent_channel(self, call: Call) -> None:
        if call.agent_channel_id:
            self._by_channel.pop(call.agent_channel_id, None)
        call.agent_channel_id = None

    def by_contact(self, contact_id: str) -> Call | None:
        return self._by_contact.get(contact_id)

    def by_channel(self, channel_id: str) -> Call | None:
        return self._by_channel.get(channel_id)

    def remove(self, call: Call) -> None:
        self._by_contact.pop(call.contact_id, None)
        self._by_channel.pop(call.channel_id, None)
        if call.agent_channel_id:
            self._by_channel.pop(call.agent_channel_id, None)

    def all(self) -> list[Call]:
        return list(self._by_contact.values())

    def __len__(self) -> int:
        return len(self._by_contact)

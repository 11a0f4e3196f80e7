"""What the voice path asks of other contexts, as small protocols.  The composition root
(``ccari.app``) hands their implementations to ``VoiceService`` when it builds it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from ccari.pbx.spec import VIDEO_CODECS

T = TypeVar("T")
#: The audio a video leg offers when its plan names none (every browser phone takes G.711).
G711 = ("ulaw", "alaw")


@dataclass(frozen=True)
class Admission:
    admit: bool
    action: str = "admit"  # admit | busy | announcement | voicemail | callback
    reason: str = "within-tenant-limit"


class AdmissionPort(Protocol):
    """Trunk admission (``ccari.admission``): asked before a call is answered."""

    async def admit_inbound(self, tenant_id: int, call_id: str) -> Admission: ...

    async def admit_inbound_with(self, tenant_id: int, call_id: str,
                                 then: Callable[[Session], T], *,
                                 after_hours: bool | None = None) -> tuple[Admission, T | None]:
        """Admit the call and, if admitted, run the write job ``then`` (the call's contact)
        in the same transaction; its result (None when refused).  ``after_hours``: is the
        called number outside its business hours (None: it has none)?  The after-hours
        trunks T of the tenant's rule apply outside them only."""
        ...

    async def release(self, call_id: str) -> None: ...

    def overflow_of(self, tenant_id: int) -> str:
        """The tenant's overflow policy as last read (no I/O): what an overloaded node
        gives a call it cannot take."""
        ...

    def overflow_policies(self) -> dict[int, str]:
        """Every tenant's overflow policy as last read (no I/O)."""
        ...


class AdmitAll:
    """No admission control (tests of the voice path alone, or a single-tenant PBX);
    ``run``: where write jobs go (the voice path's shared commits)."""

    def __init__(self, run: Callable[[Callable[[Session], Any]], Awaitable[Any]]) -> None:
        self._run = run

    async def admit_inbound(self, tenant_id: int, call_id: str) -> Admission:
        return Admission(True)

    async def admit_inbound_with(self, tenant_id: int, call_id: str,
                                 then: Callable[[Session], T], *,
                                 after_hours: bool | None = None) -> tuple[Admission, T | None]:
        return Admission(True), await self._run(then)

    async def release(self, call_id: str) -> None:
        return None

    def overflow_of(self, tenant_id: int) -> str:
        return "busy"

    def overflow_policies(self) -> dict[int, str]:
        return {}


class IvrCallbacks(Protocol):
    """The IVR's "call me back" option, and the callback of a caller lost with the PBX
    (``ccari.callbacks``' service)."""

    async def take_from_ivr(self, channel_id: str, contact_id: str, attributes: dict[str, Any],
                            *, source: str = "ivr") -> bool:
        """The caller chose "call me back" (``source``: ``ivr``, or ``overflow`` for the
        offer over the trunk limit); ``attributes``: their routing attributes.  True when
        the callback took the caller."""
        ...

    async def can_call_back(self, tenant_id: int, number: str) -> bool:
        """Would a callback to ``number`` be accepted now (allowed, none planned already)?"""
        ...

    async def after_lost_call(self, contact_id: str) -> object:
        """The caller of ``contact_id`` was waiting for an agent when the Asterisk carrying
        the call was lost: call them back if the tenant allows it."""
        ...


class VoicemailPort(Protocol):
    """Keeps a caller's recorded message (``ccari.voicemail``' service)."""

    async def keep(self, call_contact_id: str, audio: bytes | None, duration_s: float) -> str | None:
        """Save the message as a queued voicemail contact and end the call's contact, in one
        transaction; the new contact's id, or None (nothing worth keeping was recorded)."""
        ...


class SpeechSession(Protocol):
    """One caller being listened to (``SpeechPort.listen``)."""

    def use(self, labels: Mapping[str, str]) -> None:
        """Recognise the options of another menu from now on (a sub-menu)."""
        ...

    async def stop(self) -> None: ...


class SpeechPort(Protocol):
    """Spoken answers in the IVR (``ccari.speech``' service)."""

    async def listen(self, channel_id: str, contact_id: str, labels: Mapping[str, str],
                     started: Callable[[], Awaitable[None]],
                     heard: Callable[[str, float, str | None], Awaitable[None]],
                     ) -> SpeechSession | None:
        """Listen to the caller on ``channel_id``; ``labels``: digit -> label of the menu's
        options.  ``started`` when they start speaking, ``heard(said, confidence, digit)``
        after each utterance (``digit`` None: no option, or not sure enough).  None when
        the menu has no word to listen for, or the audio path could not be set up."""
        ...


@dataclass(frozen=True)
class Via:
    """Another node's Asterisk an agent leg goes out from: its ``ccari-peer`` endpoint
    (``sip:<host>:<port>``) and the key it identifies ccari's nodes by."""

    sip_uri: str
    key: str


@dataclass(frozen=True)
class LegPlan:
    """Where and how an agent's leg goes (``ccari.sites``' bandwidth manager): the media
    node (``via``: another node's Asterisk, else this node's own), the codecs its INVITE may
    offer (empty: the phone's own list) and, for people, the codec's name; ``variables``:
    channel variables that let a restarted ccari count the leg again."""

    node: str = ""
    formats: tuple[str, ...] = ()
    codec: str | None = None
    label: str | None = None
    kbps: float | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    via: Via | None = None


def leg_formats(plan: LegPlan, *, video: bool) -> tuple[str, ...]:
    """What a leg's INVITE offers: the plan's audio (empty: the phone's own list) and, for a
    video call's leg to a phone that takes video, the video codec (Asterisk forwards it as it
    comes).  A leg Asterisk originates without formats offers audio only, and the video it
    adds later in a re-INVITE gets a browser phone's answer receive-only (it never opened
    its camera): a video leg names its formats, G.711 when the plan names no audio."""
    if not video:
        return plan.formats
    return (*(plan.formats or G711), *VIDEO_CODECS)


class LegPlanner(Protocol):
    """Bandwidth for agent legs: asked before each one is dialled, told when it ends."""

    async def place(self, tenant_id: int, agent_id: int, site_id: int | None, device: str,
                    leg_id: str, *, here: bool = False) -> LegPlan | None:
        """Count the leg on its site and media node and say how to dial it; None when
        the agent's site has no room left (the offer is withdrawn, not missed).  ``here``:
        from this node's Asterisk whatever the loads (a video call)."""
        ...

    async def dial(self, tenant_id: int, endpoint: str, leg_id: str) -> LegPlan:
        """A leg a person asked for (a consult, a conference member, a supervisor's phone,
        a transfer's outside number) to ``endpoint``: counted likewise, never refused."""
        ...

    async def release(self, leg_id: str) -> None:
        """The leg ended (or was never dialled): stop counting it (twice is harmless)."""
        ...

    def unreachable(self, node: str) -> None:
        """A leg through another node's Asterisk failed before it rang: place none there
        for a while."""
        ...


class PlanNothing:
    """No bandwidth management: every leg as the phone likes it."""

    async def place(self, tenant_id: int, agent_id: int, site_id: int | None, device: str,
                    leg_id: str, *, here: bool = False) -> LegPlan | None:
        return LegPlan()

    async def dial(self, tenant_id: int, endpoint: str, leg_id: str) -> LegPlan:
        return LegPlan()

    async def release(self, leg_id: str) -> None:
        return None

    def unreachable(self, node: str) -> None:
        return None

"""What the voice path asks of other contexts, as small protocols (wired in ccari.app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Admission:
    admit: bool
    action: str = "admit"  # admit | busy | announcement | voicemail | callback
    reason: str = "within-tenant-limit"


class AdmissionPort(Protocol):
    """Trunk admission (``ccari.admission``): asked before a call is answered."""

    async def admit_inbound(self, tenant_id: int, call_id: str) -> Admission: ...

    async def release(self, call_id: str) -> None: ...


class AdmitAll:
    """No admission control (tests of the voice path alone, or a single-tenant PBX)."""

    async def admit_inbound(self, tenant_id: int, call_id: str) -> Admission:
        return Admission(True)

    async def release(self, call_id: str) -> None:
        return None


class IvrCallbacks(Protocol):
    """The IVR's "call me back" option (ccari.callbacks; set as ``VoiceService.callbacks``)."""

    async def take_from_ivr(self, channel_id: str, contact_id: str,
                            attributes: dict[str, Any]) -> bool: ...

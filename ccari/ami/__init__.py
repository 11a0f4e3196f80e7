"""AMI through panoramisk's protocol, behind an adapter that never replays an originate."""

from ccari.ami.actions import AmiMessage, OriginateResult, is_idempotent
from ccari.ami.adapter import AmiAdapter
from ccari.ami.errors import (
    AmiActionLost,
    AmiAuthError,
    AmiError,
    AmiResponseError,
    AmiTimeout,
    AmiUnavailable,
)
from ccari.ami.events import AmiEvent, AmiHandler

__all__ = [
    "AmiActionLost",
    "AmiAdapter",
    "AmiAuthError",
    "AmiError",
    "AmiEvent",
    "AmiHandler",
    "AmiMessage",
    "AmiResponseError",
    "AmiTimeout",
    "AmiUnavailable",
    "OriginateResult",
    "is_idempotent",
]

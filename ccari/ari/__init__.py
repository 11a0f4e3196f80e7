"""A small typed ARI client on aiohttp: REST with timeouts, supervised event websocket."""

from ccari.ari.backoff import ReconnectPolicy
from ccari.ari.client import AriClient
from ccari.ari.errors import (
    AriConflict,
    AriError,
    AriNotFound,
    AriRequestError,
    AriTimeout,
    AriUnavailable,
)
from ccari.ari.models import (
    AsteriskInfo,
    Bridge,
    CallerId,
    Channel,
    DialplanLocation,
    Endpoint,
    LiveRecording,
    Playback,
)

__all__ = [
    "AriClient",
    "AriConflict",
    "AriError",
    "AriNotFound",
    "AriRequestError",
    "AriTimeout",
    "AriUnavailable",
    "AsteriskInfo",
    "Bridge",
    "CallerId",
    "Channel",
    "DialplanLocation",
    "Endpoint",
    "LiveRecording",
    "Playback",
    "ReconnectPolicy",
]

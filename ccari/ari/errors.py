"""The ARI exception tree, mapped once from HTTP statuses and transport failures.

``AriError`` → ``AriNotFound`` (404), ``AriConflict`` (409), ``AriRequestError`` (other 4xx),
``AriUnavailable`` (connection errors, 5xx) → ``AriTimeout`` (no answer in time: the outcome
of a non-idempotent request such as an originate is unknown; reconcile, never retry blindly)
and ``AriDisconnected`` (the events websocket carrying the request closed first).
"""

from __future__ import annotations

from ccari.errors import CcariError


class AriError(CcariError):
    """The PBX (ARI) failed a request."""

    error_id = "pbx-error"
    status = 502

    def __init__(self, message: str = "", *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AriNotFound(AriError):
    """The PBX has no such channel, bridge, playback or variable."""

    error_id = "pbx-not-found"
    status = 404


class AriConflict(AriError):
    """The PBX refused the request: conflicting state or duplicate id."""

    error_id = "pbx-conflict"
    status = 409


class AriRequestError(AriError):
    """The PBX rejected the request (bad parameters, wrong state, not authorised)."""

    error_id = "pbx-request-rejected"
    status = 502


class AriUnavailable(AriError):
    """The PBX cannot be reached or failed internally."""

    error_id = "pbx-unavailable"
    status = 503
    outage = True


class AriDisconnected(AriUnavailable):
    """ccari's link to the PBX closed before the answer (a restart, a cut): whether the
    request was applied is for the reconcile after the reconnect to find out."""


class AriTimeout(AriUnavailable):
    """The PBX did not answer in time; the request may or may not have been applied."""

    error_id = "pbx-timeout"
    status = 504


def error_for_status(status: int, message: str) -> AriError:
    """Map an HTTP error status of ARI to the exception tree."""
    if status == 404:
        return AriNotFound(message, status_code=status)
    if status == 409:
        return AriConflict(message, status_code=status)
    if status >= 500:
        return AriUnavailable(message, status_code=status)
    return AriRequestError(message, status_code=status)

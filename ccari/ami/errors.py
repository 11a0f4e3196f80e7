"""The AMI exception tree.

``AmiError`` → ``AmiUnavailable`` (cannot connect) → ``AmiTimeout`` (no answer in time);
``AmiActionLost`` (the connection dropped while a non-idempotent action was in flight: it
may or may not have run, and it is never re-sent); ``AmiAuthError``; ``AmiResponseError``
(Asterisk answered ``Response: Error``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ccari.errors import CcariError


class AmiError(CcariError):
    """The PBX (AMI) failed an action."""

    error_id = "pbx-error"
    status = 502


class AmiUnavailable(AmiError):
    """The PBX manager interface cannot be reached."""

    error_id = "pbx-unavailable"
    status = 503
    outage = True


class AmiTimeout(AmiUnavailable):
    """The PBX did not answer in time; the action may or may not have run."""

    error_id = "pbx-timeout"
    status = 504


class AmiAuthError(AmiError):
    """The PBX rejected the manager credentials."""

    error_id = "pbx-auth-failed"


class AmiActionLost(AmiError):
    """The connection dropped before the action completed; it was not re-sent."""

    error_id = "pbx-action-lost"
    status = 503
    outage = True

    def __init__(self, action: str, action_id: str, *, partial: bool) -> None:
        state = "after a first response" if partial else "before any response"
        super().__init__(
            f"AMI connection lost {state} to {action} {action_id}; not re-sent"
            " (it may have run: reconcile before trying again)"
        )
        self.action = action
        self.action_id = action_id
        self.partial = partial


class AmiResponseError(AmiError):
    """Asterisk answered the action with ``Response: Error``."""

    error_id = "pbx-action-failed"

    def __init__(self, message: str, response: Mapping[str, str | list[str]]) -> None:
        super().__init__(message)
        self.response = dict(response)

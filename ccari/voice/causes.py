"""Why a caller's line ended, as a contact disposition: pure, from Asterisk's hangup cause.

Asterisk reports a channel's Q.850 hangup cause in ARI ``ChannelDestroyed`` (``cause``,
``cause_txt``).  Two causes mean a dead call on the carrier trunk (the peer vanished
without a BYE), measured on Asterisk 22.10.1:

* ``rtp_timeout``: no RTP from the peer for ``pbx.dead_call_s``; chan_pjsip logs "Disconnecting
  channel ... for lack of audio RTP activity" and ends the channel with cause 44
  (``AST_CAUSE_REQUESTED_CHAN_UNAVAIL``, "Requested channel not available");
* session timers (RFC 4028): the refresh never came; pjsip ends the session with SIP 408,
  which chan_pjsip reports as cause 18 ("No user responding").

A caller who hangs up sends a BYE (cause 16, or the Q.850 cause of its Reason header).

``ChannelDestroyed`` is not sent to the app once the channel has left Stasis, so the same
facts are read earlier, from ``ChannelHangupRequest`` (before ``StasisEnd``): the RTP timeout
is a soft hang-up by the channel driver (``AST_SOFTHANGUP_DEV``, 1; an ARI hang-up is
``AST_SOFTHANGUP_EXPLICIT``, 32), the session timer a hang-up queued with cause 18 (and
``tech_cause`` 408).

A customer's page (a call from the help widget) is watched by ccari, not by Asterisk: when
the page's SIP websocket closes or stops answering with its call up, ccari hangs the call up
with cause 38 ("Network out of order") and its contact says ``caller-page-lost``.
"""

from __future__ import annotations

MEDIA_TIMEOUT = "media-timeout"
SESSION_TIMER_EXPIRED = "session-timer-expired"
CALLER_PAGE_LOST = "caller-page-lost"

CAUSE_REQUESTED_CHAN_UNAVAIL = 44
CAUSE_NO_USER_RESPONSE = 18
CAUSE_NETWORK_OUT_OF_ORDER = 38
SOFTHANGUP_DEV = 1

_DEAD_CALL = {
    CAUSE_REQUESTED_CHAN_UNAVAIL: MEDIA_TIMEOUT,
    CAUSE_NO_USER_RESPONSE: SESSION_TIMER_EXPIRED,
}

#: The Q.850 cause (and Asterisk's text) each dead-call disposition stands for.
Q850 = {
    MEDIA_TIMEOUT: (CAUSE_REQUESTED_CHAN_UNAVAIL, "Requested channel not available"),
    SESSION_TIMER_EXPIRED: (CAUSE_NO_USER_RESPONSE, "No user responding"),
    CALLER_PAGE_LOST: (CAUSE_NETWORK_OUT_OF_ORDER, "Network out of order"),
}

#: Dispositions written when the caller's side ended the contact; only these are replaced.
CALLER_ENDED_PREFIXES = ("abandoned-in-", "caller-hangup")


def dead_call_disposition(cause: int | None) -> str | None:
    """The disposition of a caller's line that Asterisk ended as dead, else ``None``."""
    if cause is None:
        return None
    return _DEAD_CALL.get(cause)


def from_hangup_request(cause: int | None, soft: bool) -> str | None:
    """The dead-call disposition an ARI ``ChannelHangupRequest`` announces, else ``None``.
    A soft request's ``cause`` is Asterisk's soft-hangup flag, not a Q.850 cause."""
    if soft:
        return MEDIA_TIMEOUT if cause == SOFTHANGUP_DEV else None
    return dead_call_disposition(cause)


def replaces(disposition: str | None) -> bool:
    """Whether a contact's disposition says the caller's side ended it (so the cause of that
    end may refine it); others (the agent hung up, a voicemail kept...) stay as they are."""
    return disposition is not None and disposition.startswith(CALLER_ENDED_PREFIXES)

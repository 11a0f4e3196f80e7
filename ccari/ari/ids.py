"""Every ARI object id ccari makes, in one place: ``<kind>-<part>[-<part>...]``.

Channels ccari originates, bridges, playbacks and recordings get a stable id that names
what they are and the contact or callback they belong to (an originate is never repeated
under the same id, and a restarted ccari finds them again by their ids).  Channels that
arrive through the dialplan keep Asterisk's own id (``1733331234.56``): their owner is
known from the arguments of their ``Stasis()``.  The Stasis router
(:mod:`ccari.ari.router`) gives an event to the context that declared the kind of its id.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Kind(enum.StrEnum):
    AGENT_LEG = "agent"  # voice: the agent's phone for one offer, agent-<contact>-<offer>
    BRIDGE = "bridge"  # voice: caller + agent, bridge-<contact>
    IVR_PROMPT = "ivr"  # voice: an IVR prompt, ivr-<contact>-<generation>
    ANNOUNCEMENT = "ann"  # voice: position and wait while queued, ann-<contact>-<n>
    VOICEMAIL_PROMPT = "vmp"  # voice: "leave a message", vmp-<contact>-1
    VOICEMAIL = "vm"  # voice: the caller's message (a recording), vm-<contact>
    CALLBACK_LEG = "cb"  # callbacks: one attempt to reach the customer, cb-<callback>-<try>
    CALLBACK_AGENT_LEG = "cba"  # callbacks: the agent first, cba-<contact>-<offer>
    CALLBACK_PROMPT = "cbp"  # callbacks: "press 1", cbp-<attempt>-<play>
    CALLBACK_CONFIRM = "cbc"  # callbacks: "we will call you back", cbc-<channel>
    SUPERVISOR_LEG = "sup"  # supervision: the supervisor's phone, sup-<session>
    SNOOP = "snoop"  # supervision: a snoop on the agent's leg, snoop-<session>-<n>
    MONITOR_BRIDGE = "mon"  # supervision: supervisor + snoop, mon-<session>
    WHISPER_FILL = "wfill"  # supervision: silence in the call's bridge, wfill-<session>-<n>
    SPEECH_SNOOP = "sps"  # speech: what the IVR caller says, sps-<contact>-<n>
    SPEECH_MEDIA = "spm"  # speech: that audio as RTP to ccari, spm-<contact>-<n>
    SPEECH_BRIDGE = "spb"  # speech: the two above, spb-<contact>-<n>
    RECORDING = "rec"  # recording: a call's bridge recorded, rec-<contact>-<n>
    FAX_OUT = "fxo"  # fax: one attempt to send a document, fxo-<send>-<n>
    TRANSFER_LEG = "xfer"  # voice: a call transferred to an outside number, xfer-<contact>-<n>
    CONSULT_LEG = "cns"  # voice: the agent consults a colleague or a number, cns-<contact>-<n>
    CONSULT_BRIDGE = "cnb"  # voice: the agent + the consulted party, cnb-<contact>-<n>
    CONFERENCE_LEG = "cnf"  # voice: a party the agent adds to her call, cnf-<contact>-<n>


def make(kind: Kind, *parts: object) -> str:
    """``make(Kind.AGENT_LEG, contact, 2)`` -> ``"agent-<contact>-2"``."""
    return "-".join((kind.value, *(str(p) for p in parts)))


def kind_of(object_id: str) -> Kind | None:
    """The kind of an id ccari made; None for Asterisk's own ids."""
    prefix, sep, _ = object_id.partition("-")
    if not sep:
        return None
    try:
        return Kind(prefix)
    except ValueError:
        return None


def rest_of(object_id: str, kind: Kind) -> str:
    """What follows ``<kind>-`` (``""`` if the id is not of that kind)."""
    prefix = kind.value + "-"
    return object_id[len(prefix):] if object_id.startswith(prefix) else ""


def sip_header(endpoint: str, channel_id: str) -> Mapping[str, str]:
    """The originate variables that put a leg's id in its SIP INVITE
    (``X-Ccari-Attempt: <id>``), so the far end's log tells each attempt apart; none for a
    channel that is not PJSIP."""
    if not endpoint.startswith("PJSIP/"):
        return {}
    return {"PJSIP_HEADER(add,X-Ccari-Attempt)": channel_id}

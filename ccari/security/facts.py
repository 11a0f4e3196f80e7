"""Asterisk's security events (AMI, class ``security``) parsed once into typed facts.

A failure names the source address (``RemoteAddress: IPV4/UDP/127.0.0.5/5060``), what went
wrong (the event name) and the account the peer claimed (attacker-chosen text: kept short,
never interpreted). Informational events (``ChallengeSent``, ``SuccessfulAuth``) are not
failures; a ``SuccessfulAuth`` of PJSIP is an :class:`Authenticated` request (the endpoint
it proved to be, from where, over which transport, its Call-ID), and the registrations of an
endpoint (``PJSIPShowEndpoint``'s ``ContactStatusDetail``) are :class:`Contact` records.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

#: The security events that count as a failure of the peer that caused them.
FAILURES = frozenset({
    "invalidaccountid",  # an unknown user (scanners)
    "challengeresponsefailed",  # a wrong digest (password guessing)
    "invalidpassword",
    "failedacl",
    "requestbadformat",
    "requestnotallowed",
    "authmethodnotallowed",
    "invalidtransport",
    "unexpectedaddress",
    "loadavglimit",
    "memorylimit",
    "sessionlimit",
})
ACCOUNT_MAX = 64
CALL_ID_MAX = 256
#: Transports whose peers are not who the address says: SIP over websocket reaches
#: Asterisk's loopback-only HTTP server through ccari's own relay (``/agent/phone/ws``), so
#: every browser phone shows ccari's address; blocking it would cut them all.  The relay
#: only lets a logged-in browser agent use her own identity (``agents.devices``).
RELAYED = frozenset({"WS", "WSS"})


@dataclass(frozen=True)
class Failure:
    event: str  # as Asterisk names it, e.g. "ChallengeResponseFailed"
    address: str  # the source IP, normalised ("127.0.0.5", "2001:db8::1")
    transport: str  # "UDP", "TCP", "TLS"...
    account: str  # the account the peer named ("" if none)

    @property
    def reason(self) -> str:
        return f"{self.event} ({self.account})" if self.account else self.event


@dataclass(frozen=True)
class Authenticated:
    """A request Asterisk authenticated as ``account`` (the PJSIP endpoint)."""

    address: str
    transport: str
    account: str
    call_id: str  # the request's Call-ID (Asterisk's SessionID)


@dataclass(frozen=True)
class Contact:
    """One registration of an endpoint: its contact's id and URI, the REGISTER's Call-ID."""

    id: str
    uri: str
    call_id: str


def remote_address(value: str) -> tuple[str, str] | None:
    """``IPV4/UDP/127.0.0.5/5060`` -> ``("127.0.0.5", "UDP")``; None if not an address."""
    parts = value.strip().split("/")
    if len(parts) < 4 or parts[0].upper() not in {"IPV4", "IPV6"}:
        return None
    host = "/".join(parts[2:-1]).strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), parts[1].upper()


def parse(name: str, headers: Mapping[str, str]) -> Failure | None:
    """The failure an AMI event reports, or None (not a failure, or no usable address)."""
    if name.lower() not in FAILURES:
        return None
    remote = remote_address(headers.get("RemoteAddress", ""))
    if remote is None or remote[1] in RELAYED:
        return None
    account = "".join(c for c in headers.get("AccountID", "") if c.isprintable())
    return Failure(name, remote[0], remote[1], account[:ACCOUNT_MAX])


def _text(value: str) -> str:
    return "".join(c for c in value if c.isprintable())[:CALL_ID_MAX]


def parse_auth(name: str, headers: Mapping[str, str]) -> Authenticated | None:
    """The SIP request a ``SuccessfulAuth`` reports, or None (another service, e.g. AMI's
    own logins, or no usable address)."""
    if name.lower() != "successfulauth" or headers.get("Service", "").upper() != "PJSIP":
        return None
    remote = remote_address(headers.get("RemoteAddress", ""))
    account = _text(headers.get("AccountID", ""))
    if remote is None or not account:
        return None
    return Authenticated(remote[0], remote[1], account, _text(headers.get("SessionID", "")))


def parse_contact(headers: Mapping[str, str]) -> Contact | None:
    """A ``ContactStatusDetail``; None without an id (nothing to act on)."""
    contact_id = headers.get("ID", "")
    if not contact_id:
        return None
    return Contact(contact_id, headers.get("URI", ""), headers.get("CallID", ""))

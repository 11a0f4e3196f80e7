"""A TLS phone's credentials over another transport: the facts Asterisk 22 reports (headers
recorded from its ``SuccessfulAuth`` and ``PJSIPShowEndpoint``) and the pure decisions."""

from __future__ import annotations

import pytest

from ccari.security.facts import Authenticated, Contact, parse_auth, parse_contact
from ccari.security.policy import (
    Breach,
    Rules,
    Tracker,
    needs_device,
    registered_by,
    transport_breach,
)

SUCCESS = {"Event": "SuccessfulAuth", "Privilege": "security,all", "Severity": "Informational",
           "Service": "PJSIP", "EventVersion": "1", "AccountID": "acme-alice",
           "SessionID": "1-2393@127.0.0.7", "LocalAddress": "IPV4/UDP/127.0.0.1/5060",
           "RemoteAddress": "IPV4/UDP/127.0.0.7/56477", "UsingPassword": "1"}


def auth(transport: str = "UDP", address: str = "127.0.0.7",
         call_id: str = "1-2393@127.0.0.7") -> Authenticated:
    return Authenticated(address, transport, "acme-alice", call_id)


def test_a_successful_pjsip_authentication_is_parsed() -> None:
    assert parse_auth("SuccessfulAuth", SUCCESS) == auth()
    tls = SUCCESS | {"RemoteAddress": "IPV4/TLS/127.0.0.1/60091"}
    assert parse_auth("SuccessfulAuth", tls) == auth("TLS", "127.0.0.1")


@pytest.mark.parametrize(("name", "changes"), [
    ("ChallengeSent", {}),  # not a success
    ("ChallengeResponseFailed", {}),
    ("SuccessfulAuth", {"Service": "AMI", "AccountID": "ccari"}),  # ccari's own AMI login
    ("SuccessfulAuth", {"RemoteAddress": "IPV4/UDP/nowhere/5060"}),
    ("SuccessfulAuth", {"AccountID": ""}),
])
def test_anything_else_is_not_an_authenticated_sip_request(
        name: str, changes: dict[str, str]) -> None:
    assert parse_auth(name, SUCCESS | changes) is None


def test_a_registration_of_an_endpoint_is_parsed() -> None:
    detail = {"Event": "ContactStatusDetail", "AOR": "acme-alice",
              "URI": "sip:acme-alice@127.0.0.7:33992", "RegExpire": "1796494332",
              "ViaAddress": "127.0.0.7:33992", "CallID": "1-3041@127.0.0.7",
              "Status": "NonQualified", "EndpointName": "acme-alice",
              "ID": "acme-alice;@9e71864d79da10afd3d26e99116b5f90"}
    assert parse_contact(detail) == Contact("acme-alice;@9e71864d79da10afd3d26e99116b5f90",
                                            "sip:acme-alice@127.0.0.7:33992", "1-3041@127.0.0.7")
    assert parse_contact({"URI": "sip:x@y"}) is None


@pytest.mark.parametrize(("transport", "device", "expected"), [
    ("UDP", "sip-tls", Breach(auth("UDP"), block=True)),
    ("TCP", "sip-tls", Breach(auth("TCP"), block=True)),
    # over ccari's relay the address is ccari's (every browser phone's): never blocked
    ("WS", "sip-tls", Breach(auth("WS"), block=False)),
    ("TLS", "sip-tls", None),  # the phone as it should be
    ("UDP", "sip", None),  # an ordinary phone
    ("UDP", "browser", None),
    ("UDP", None, None),  # not an agent's phone (the carrier, ccari-web)
])
def test_only_a_tls_phone_over_another_transport_is_a_breach(
        transport: str, device: str | None, expected: Breach | None) -> None:
    assert transport_breach(auth(transport), device) == expected


def test_the_device_is_only_looked_up_for_requests_not_over_tls() -> None:
    assert needs_device(auth("UDP")) and needs_device(auth("WS"))
    assert not needs_device(auth("TLS"))


def test_the_breach_names_the_account_and_the_transport() -> None:
    assert Breach(auth("UDP"), block=True).reason == "TLS phone over UDP (acme-alice)"


def test_only_the_registration_the_breaching_request_made_is_removed() -> None:
    breach = Breach(auth(), block=True)
    mine = Contact("acme-alice;@8e4a", "sip:acme-alice@127.0.0.7:56477", "1-2393@127.0.0.7")
    tls = Contact("acme-alice;@c71e", "sip:acme-alice@127.0.0.1:60091;transport=TLS", "9@x")
    static = Contact("acme-alice@@b8d0", "sip:acme-alice@127.0.0.1:47821", "")
    assert registered_by(breach, [tls, mine, static]) == [mine]
    assert registered_by(Breach(auth(call_id=""), block=True), [static]) == []


RULES = Rules.of(exempt=("127.0.0.2",), max_failures=3, window_s=10.0, block_s=100.0,
                 repeat_factor=2.0, max_block_s=350.0, repeat_memory_s=1000.0)


def test_an_offence_blocks_at_once_and_repeats_like_failures() -> None:
    t = Tracker(RULES)
    first = t.offence("192.0.2.7", "TLS phone over UDP (acme-alice)", 0)
    assert first is not None and (first.at, first.until, first.offence) == (0, 100, 1)
    assert first.failures == 1
    assert t.offence("192.0.2.7", "again", 50) is None  # already blocked: not extended
    assert t.expire(100) == ["192.0.2.7"]
    second = t.offence("192.0.2.7", "again", 150)
    assert second is not None and (second.until, second.offence) == (350, 2)


def test_an_offence_counts_the_failures_before_it_and_spares_exempt_addresses() -> None:
    t = Tracker(RULES)
    t.failure("192.0.2.8", "ChallengeResponseFailed", 0)
    block = t.offence("192.0.2.8", "TLS phone over UDP (acme-alice)", 1)
    assert block is not None and block.failures == 2
    assert t.offence("127.0.0.2", "TLS phone over UDP (acme-alice)", 1) is None  # the carrier

"""Asterisk's security events parsed at the edge (headers recorded from Asterisk 22)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.security.facts import Failure, parse, remote_address


@pytest.mark.parametrize(("value", "expected"), [
    ("IPV4/UDP/127.0.0.5/5060", ("127.0.0.5", "UDP")),
    ("IPV4/TCP/192.0.2.10/34567", ("192.0.2.10", "TCP")),
    ("IPV6/UDP/[2001:db8::1]/5060", ("2001:db8::1", "UDP")),
    ("IPV6/UDP/2001:db8::1/5060", ("2001:db8::1", "UDP")),
    ("IPV6/UDP/[::ffff:192.0.2.4]/5060", ("192.0.2.4", "UDP")),
    ("", None),
    ("IPV4/UDP/not-an-ip/5060", None),
    ("IPV4/UDP/127.0.0.5", None),
    ("HOST/UDP/127.0.0.5/5060", None),
])
def test_remote_address(value: str, expected: tuple[str, str] | None) -> None:
    assert remote_address(value) == expected


def test_failures_and_non_failures() -> None:
    headers = {"RemoteAddress": "IPV4/UDP/127.0.0.5/5061", "AccountID": "acme-alice",
               "Service": "PJSIP", "Severity": "Error"}
    assert parse("ChallengeResponseFailed", headers) == Failure(
        "ChallengeResponseFailed", "127.0.0.5", "UDP", "acme-alice")
    assert parse("InvalidAccountID", headers) is not None
    assert parse("ChallengeSent", headers) is None  # every first REGISTER gets one
    assert parse("SuccessfulAuth", headers) is None
    assert parse("FailedACL", {"AccountID": "x"}) is None  # no address: nothing to block


@pytest.mark.parametrize(("transport", "counted"), [
    ("UDP", True), ("TCP", True), ("TLS", True), ("WS", False), ("WSS", False)])
def test_failures_over_the_browser_phones_relay_name_no_address(transport: str, counted: bool) -> None:
    """Browser phones reach Asterisk through ccari's relay: their address is ccari's."""
    fact = parse("ChallengeResponseFailed", {"RemoteAddress": f"IPV4/{transport}/127.0.0.1/40000",
                                             "AccountID": "acme-alice"})
    assert (fact is not None) is counted


def test_the_claimed_account_is_kept_short_and_printable() -> None:
    fact = parse("InvalidAccountID", {"RemoteAddress": "IPV4/UDP/192.0.2.1/5060",
                                      "AccountID": "a\r\nb" + "x" * 200})
    assert fact is not None and fact.account.startswith("ab") and len(fact.account) == 64
    assert fact.reason == f"InvalidAccountID ({fact.account})"


@given(st.ip_addresses(), st.sampled_from(["UDP", "TCP", "TLS", "WS"]), st.integers(1, 65535))
def test_every_address_asterisk_can_write_is_read_back(ip, transport: str, port: int) -> None:  # type: ignore[no-untyped-def]
    family = "IPV4" if ip.version == 4 else "IPV6"
    host = str(ip) if ip.version == 4 else f"[{ip}]"
    parsed = remote_address(f"{family}/{transport}/{host}/{port}")
    assert parsed is not None and ipaddress.ip_address(parsed[0]) in (
        ip, getattr(ip, "ipv4_mapped", None))


@given(st.text(), st.text())
def test_any_header_text_is_parsed_or_ignored_never_raises(address: str, account: str) -> None:
    fact = parse("InvalidAccountID", {"RemoteAddress": address, "AccountID": account})
    assert fact is None or (ipaddress.ip_address(fact.address) and len(fact.account) <= 64)

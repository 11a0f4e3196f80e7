"""SIP over TLS for agents' phones, as rendered (pure; tests/voice/test_sip_tls_pbx.py runs it
on Asterisk): the TLS transport with the certificate copied beside the config, a ``tls``
phone on it with SDES-SRTP, and every way of getting it wrong refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ccari.pbx import Phone, SpecError, render, render_texts
from ccari.pbx.render import TLS_CERT_FILE, TLS_KEY_FILE
from ccari.pbx.spec import TlsSpec, spec_from_dict, spec_to_dict
from tests.pbx.test_pbx_render import DIRS, make_spec, objects

CERT = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIU\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"
TLS = TlsSpec(15061, CERT, KEY)


def tls_spec(**changes: object):  # type: ignore[no-untyped-def]
    spec = make_spec(tls=TLS)
    phones = (*spec.phones, Phone("carl", "carl-pass-33", "sip:carl@127.0.0.1:16003;transport=tls",
                                  tls=True))
    return dataclasses.replace(spec, phones=phones, **changes)  # type: ignore[arg-type]


def test_a_tls_phone_is_on_the_tls_transport_with_sdes_srtp() -> None:
    texts = render_texts(tls_spec(), DIRS)
    transports = objects(texts["pjsip.conf"], "transport")
    assert transports["ccari-tls"] == {
        "type": ["transport"], "protocol": ["tls"], "bind": ["0.0.0.0:15061"],
        "cert_file": [f"{DIRS.etc}/{TLS_CERT_FILE}"], "priv_key_file": [f"{DIRS.etc}/{TLS_KEY_FILE}"],
        "method": ["tlsv1_2"]}
    endpoints = objects(texts["ccari-pjsip.conf"], "endpoint")
    assert endpoints["carl"]["transport"] == ["ccari-tls"]
    assert endpoints["carl"]["media_encryption"] == ["sdes"]
    assert endpoints["alice"]["transport"] == ["ccari-udp"] and "media_encryption" not in endpoints["alice"]
    assert (texts[TLS_CERT_FILE], texts[TLS_KEY_FILE]) == (CERT, KEY)


def test_without_tls_there_is_no_tls_transport_and_no_key_file() -> None:
    texts = render_texts(make_spec(), DIRS)
    assert "ccari-tls" not in objects(texts["pjsip.conf"], "transport")
    assert TLS_CERT_FILE not in texts and TLS_KEY_FILE not in texts


def test_the_key_is_written_private_and_never_shown_in_the_specs_repr(tmp_path: Path) -> None:
    render(tls_spec(), tmp_path / "etc")
    key = tmp_path / "etc" / TLS_KEY_FILE
    assert key.read_text() == KEY and key.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in repr(tls_spec())


def test_an_admins_asterisk_gets_no_key_file_and_its_own_tls_transport(tmp_path: Path) -> None:
    texts = render_texts(tls_spec(), DIRS, external=True)
    assert TLS_KEY_FILE not in texts and "pjsip.conf" not in texts
    carl = objects(texts["ccari-pjsip.conf"], "endpoint")["carl"]
    assert carl["media_encryption"] == ["sdes"] and "transport" not in carl


@pytest.mark.parametrize("changes", [
    {"tls": None},  # a TLS phone without the transport
    {"tls": TlsSpec(15060, CERT, KEY)},  # the UDP port
    {"tls": TlsSpec(25000, CERT, KEY)},  # inside the RTP range
    {"tls": TlsSpec(15061, "not a certificate", KEY)},
    {"tls": TlsSpec(15061, CERT, "")},
])
def test_a_bad_tls_spec_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(SpecError):
        render_texts(tls_spec(**changes), DIRS)


def test_a_browser_phone_cannot_be_a_tls_phone() -> None:
    spec = tls_spec()
    spec = dataclasses.replace(spec, phones=(*spec.phones, Phone("web", "web-pass-44",
                                                                   webrtc=True, tls=True)))
    with pytest.raises(SpecError):
        render_texts(spec, DIRS)


def test_the_tls_spec_round_trips_through_json() -> None:
    assert spec_from_dict(spec_to_dict(tls_spec())) == tls_spec()

"""An agent's device in the provisioning API's agent document: a SIP phone or the browser."""

from __future__ import annotations

from typing import Any

import pytest

from ccari.provisioning import schemas

BASE = {"username": "dora", "name": "Dora", "phone_username": "initech-dora",
        "phone_password": "dora-phone-secret", "web_password": "dora-web-secret"}


@pytest.mark.parametrize(("extra", "device"), [
    ({}, "sip"),
    ({"device": "sip", "phone_contact": "sip:initech-dora@127.0.0.1:5070"}, "sip"),
    ({"device": "browser"}, "browser"),
])
def test_the_device_is_read(extra: dict[str, Any], device: str) -> None:
    assert schemas.agent({**BASE, **extra}).device == device


@pytest.mark.parametrize(("extra", "words"), [
    ({"device": "fax"}, "one of sip, sip-tls, browser"),
    ({"device": ""}, "device"),
    ({"device": "browser", "phone_contact": "sip:initech-dora@127.0.0.1:5070"}, "registers"),
])
def test_a_bad_device_is_refused_naming_the_field(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(schemas.Invalid) as refused:
        schemas.agent({**BASE, **extra})
    assert words in str(refused.value)

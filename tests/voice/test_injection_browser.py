"""A hostile caller on the real PBX: a SIP display name and X- headers carrying script, SQL,
dialplan and shell metacharacters are stored as text, routed as any call (no header steers
routing, nothing reaches the dialplan), and shown as text on the agent's page in Chromium
(nothing runs)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from ccari.app import Runtime, internal_app
from ccari.storage.models import Contact
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening
from tests.support.sipp import Sipp
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually

pytestmark = [pytest.mark.pbx, pytest.mark.browser]
# No '"' nor '\' (a SIP quoted-string), no square brackets (SIPp's keywords), and within
# the 79 characters Asterisk keeps of a caller id name.
DISPLAY = "<img src=x onerror=window.pwned=2>';DROP TABLE c;-- ${SHELL}$(id)`id`|&,)"
XHEADER = "vip'); DELETE FROM agents;-- ${EXTEN},1,Dial(PJSIP/x) <b>hi</b>"


async def _contact(rt: Runtime) -> Contact | None:
    async with rt.sessions() as s:
        return await s.scalar(select(Contact).where(Contact.medium == "voice"))


async def test_a_hostile_caller_id_name_is_text_everywhere(ccari: Runtime,
                                                           voice_env: VoiceEnv) -> None:
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    async with listening(internal_app(ccari)) as base:
        async with chromium() as browser:
            page = await agent_login(await browser.new_page(), base,
                                     "alice", secrets["acme.alice.web"])
            async with Sipp("agent_uas.xml", local_ip=PHONE_IP,
                            local_port=voice_env.phone_ports["acme-alice"], calls=None,
                            params={"agent": "acme-alice", "answer_after_ms": 500}):
                call = Sipp("caller_hostile.xml", voice_env.sip_target, service="15550100",
                            local_ip=CARRIER_IP, timeout_s=60,
                            params={"caller": "15550123", "digits": "1",
                                    "hangup_after_ms": 2500, "display": DISPLAY,
                                    "xheader": XHEADER})
                await call.start()
                pop = ".work-item[data-medium=voice]"
                await page.wait_for_selector(f"{pop}[data-status=connected]", timeout=20000)
                shown = await page.text_content(f"{pop} .caller")
                assert shown == f"{DISPLAY} 15550123"  # the text, as the caller sent it
                assert await page.locator(f"{pop} script, {pop} img, {pop} b").count() == 0
                assert await page.evaluate("window.pwned") is None  # nothing ran
                result = await call.wait()
                assert result.ok, result.describe()
            contact = await eventually(lambda: _contact(ccari), what="the call's contact")
    assert contact.caller_name == DISPLAY and contact.caller_number == "15550123"
    # Routed by its IVR choice only: no header reached the contact's attributes.
    assert contact.attributes == {"skill": "sales"}
    assert XHEADER not in json.dumps(contact.meta)

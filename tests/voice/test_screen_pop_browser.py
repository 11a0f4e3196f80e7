"""An agent logs in with Chromium, goes ready, and sees the screen pop of a real SIP call."""

from __future__ import annotations

import json

import pytest

from ccari.app import Runtime, internal_app
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening
from tests.support.sipp import Sipp
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


async def test_agent_sees_the_callers_customer_record(ccari: Runtime, voice_env: VoiceEnv) -> None:
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    async with listening(internal_app(ccari)) as base:
        async with chromium() as browser:
            page = await agent_login(await browser.new_page(), base,
                                     "alice", secrets["acme.alice.web"])

            async with Sipp("agent_uas.xml", local_ip=PHONE_IP,
                            local_port=voice_env.phone_ports["acme-alice"], calls=None,
                            params={"agent": "acme-alice", "answer_after_ms": 1500}):
                call = Sipp("caller_dtmf.xml", voice_env.sip_target, service="15550100",
                            local_ip=CARRIER_IP, timeout_s=60,
                            params={"caller": "15550199", "digits": "1", "hangup_after_ms": 6000})
                await call.start()
                pop = ".work-item[data-medium=voice]"
                await page.wait_for_selector(pop, timeout=20000)
                assert await page.text_content(f"{pop} .customer") == "Ada Lovelace"
                assert "gold" in await page.text_content(f"{pop} .entitlements")
                tickets = await page.text_content(f"{pop} .tickets")
                assert "Router drops the line every evening (open)" in tickets
                assert await page.text_content(f"{pop} .ivr") == "skill=sales, tier=gold"  # Ada is gold
                assert "15550199" in await page.text_content(f"{pop} .caller")
                await page.wait_for_selector(f"{pop}[data-status=connected]", timeout=10000)
                # The call's controls: hold, then resume.
                await page.click(f"{pop} .hold")
                await page.wait_for_selector(f"{pop}[data-status=held]", timeout=5000)
                await page.click(f"{pop} .resume")
                await page.wait_for_selector(f"{pop}[data-status=connected]", timeout=5000)
                result = await call.wait()
                assert result.ok, result.describe()
            await page.wait_for_selector("#state[data-state=wrap_up]", timeout=10000)
            # Wrap-up: a disposition and a note close it, and the agent is ready again.
            await page.wait_for_selector(f"{pop}[data-status=wrap-up]", timeout=5000)
            await page.select_option(f"{pop} .disposition", "follow-up")
            await page.fill(f"{pop} .note", "call back about the router")
            await page.click(f"{pop} .wrap-up-done")
            await page.wait_for_selector(pop, state="detached", timeout=5000)
            await page.wait_for_selector("#state[data-state=ready]", timeout=5000)

            async def completed() -> bool:
                from sqlalchemy import select

                from ccari.storage.models import Contact
                async with ccari.sessions() as s:
                    row = await s.scalar(select(Contact))
                    return row is not None and row.disposition == "follow-up" \
                        and row.meta.get("note") == "call back about the router"

            await eventually(completed, what="the contact's disposition")

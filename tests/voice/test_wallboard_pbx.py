"""The wallboard on the real Asterisk: SIPp callers, one who gives up in the queue and one
answered by alice's SIPp phone; the API's figures, and the page in Chromium."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccari.app import Runtime, internal_app
from ccari.contacts.lifecycle import Fact
from tests.support.agent_web import AgentPage
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_call_controls_pbx import page_of, served  # noqa: F401 - fixture
from tests.voice.test_voice_pbx import _state_of, caller, phone, ready
from tests.wallboard.test_wallboard_http import story

pytestmark = pytest.mark.pbx


async def board(sam: AgentPage) -> dict[str, Any]:
    resp = await sam.http.get("/supervisor/api/wallboard")
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def sales(data: dict[str, Any]) -> dict[str, Any] | None:
    return next((q for q in data["queues"] if (q["medium"], q["skill"]) == ("voice", "sales")),
                None)


async def test_an_abandoned_and_an_answered_call_on_the_wallboard(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
) -> None:
    sam = await page_of(served, "sam")
    try:
        # Nobody is ready: the first caller waits in the queue, seen waiting, then gives up.
        first = caller(voice_env, digits="1", hangup_after_ms=3000, caller="15551110001")
        await first.start()

        async def waiting() -> dict[str, Any] | None:
            row = sales(await board(sam))
            return row if row and row["waiting"] == 1 and row["longest_wait_s"] >= 1 else None

        await eventually(waiting, 10, "the caller waiting on the wallboard")
        assert (await first.wait()).ok
        await eventually(lambda: _state_of(ccari, "15551110001", "abandoned"), what="abandoned")

        # alice is ready: the second caller is answered, alice's phone hangs up after 1 s.
        agents = await ready(ccari, "alice")
        async with phone(voice_env, "alice", hangup_after_ms=1000):
            second = caller(voice_env, digits="1", hangup_after_ms=0, caller="15551110002")
            await second.start()
            done = await eventually(lambda: _state_of(ccari, "15551110002", "completed"),
                                    what="second call served")
            assert (await second.wait()).ok

        async def both() -> dict[str, Any] | None:
            data = await board(sam)
            row = sales(data)
            return data if row and row["window"]["answered"] == 1 else None

        data = await eventually(both, 10, "the answered call on the wallboard")
        row = sales(data)
        assert row is not None
        for period in (row["window"], row["today"]):
            assert (period["entered"], period["answered"], period["abandoned"]) == (2, 1, 1)
            # The answered call waited less than the 20 s threshold, the other gave up.
            assert period["service_level"] == 50.0 and period["abandon_rate"] == 50.0
            assert period["asa_s"] == pytest.approx(done.wait_s, abs=0.15)
        assert row["waiting"] == 0 and data["service_level_s"] == 20.0
        [total] = [q for q in data["queues"] if q["medium"] == "all"]
        assert total["window"] == row["window"]
        alice = next(a for a in data["agents"] if a["id"] == agents["alice"].id)
        assert alice["state"] in ("wrap_up", "ready") and alice["in_state_s"] >= 0
        assert sum(data["agents_by_state"].values()) == len(data["agents"]) == 4  # vera too
    finally:
        await sam.close()


@pytest.mark.browser
async def test_the_wallboard_page_shows_a_call_arriving_then_abandoning(
    ccari: Runtime, voice_env: VoiceEnv,
) -> None:
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    async with listening(internal_app(ccari)) as base:
        async with chromium() as browser:
            page = await agent_login(await browser.new_page(), base, "sam",
                                     secrets["acme.sam.web"], ready=False)
            problems: list[str] = []  # script errors, CSP refusals
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            await page.goto(f"{base}/supervisor/wallboard")
            await page.wait_for_selector("#conn:text('live')")
            await page.wait_for_selector("#total-waiting:text-is('0')")
            assert await page.is_visible("#no-queues")
            # A chat that gave up earlier, its skill in markup: shown as text.
            await story(ccari, "acme", "chat", "<i>vip</i>", 60, (50, Fact.CUSTOMER_LEFT))
            chat = "#queues tbody tr[data-medium=chat]"
            await page.wait_for_selector(chat, timeout=5000)
            assert await page.text_content(f"{chat} td:nth-child(2)") == "<i>vip</i>"

            call = caller(voice_env, digits="1", hangup_after_ms=3000, caller="15551110003")
            await call.start()
            # Pushed, not reloaded: the waiting figure and the queue's row appear.
            await page.wait_for_selector("#total-waiting:text-is('1')", timeout=10000)
            row = "#queues tbody tr[data-medium=voice][data-skill=sales]"
            await page.wait_for_selector(f"{row} td.waiting:text-is('1')", timeout=5000)
            assert (await call.wait()).ok
            await page.wait_for_selector("#total-abandon:text-is('100 %')", timeout=10000)
            await page.wait_for_selector("#total-waiting:text-is('0')", timeout=5000)
            assert await page.text_content(f"{row} td.abandon") == "100 %"
            assert await page.get_attribute("#total-abandon", "data-level") == "bad"
            assert "Sam Supervisor" in await page.text_content("#agents")
            # The trend chart (uPlot) is drawn, with both series.
            assert await page.is_visible("#trend canvas")
            legend = await page.text_content("#trend .u-legend")
            assert legend is not None and "waiting" in legend and "service level" in legend
            assert problems == []

"""What a supervisor sees, read off the screen: SIPp callers load the queue, alice answers
one, the others wait and give up; screenshots of the wallboard and of the reports page are
taken in Chromium and their figures read back from the pixels (tesseract OCR), checked
against the scenario and against the API's figures. The whole-page screenshots are kept
(``CCARI_SCREENSHOTS``, else the test's temporary directory) for a human to look at."""

from __future__ import annotations

import asyncio
import io
import os
import re
from pathlib import Path

import pytest
from PIL import Image, ImageOps, ImageStat
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from ccari.app import Runtime
from tests.support.browser import agent_login, chromium
from tests.voice.calls import Served
from tests.voice.conftest import VoiceEnv
from tests.voice.test_call_controls_pbx import served  # noqa: F401 - fixture
from tests.voice.test_voice_pbx import caller, phone, ready

pytestmark = [pytest.mark.pbx, pytest.mark.browser]
CALLERS = 4  # one answered by alice, three left waiting until they give up


async def read_off(page: Page, selector: str) -> str:
    """The text tesseract reads in the element's screenshot (digits, % and dashes only)."""
    shot = Image.open(io.BytesIO(await page.locator(selector).first.screenshot())).convert("L")
    if ImageStat.Stat(shot).mean[0] < 128:  # the wallboard's light figures on dark
        shot = ImageOps.invert(shot)
    low, high = shot.getextrema()  # black glyphs on white, whatever their colour
    shot = shot.point(lambda v: 0 if v < (low + high) / 2 else 255)
    box = ImageOps.invert(shot).getbbox()  # just the glyphs, at the size tesseract reads best
    if box is not None:
        shot = shot.crop(box)
        shot = shot.resize((max(1, shot.width * 40 // shot.height), 40))
    framed = io.BytesIO()  # and a margin: it misreads glyphs that touch the image's edge
    ImageOps.expand(shot, border=16, fill=255).save(framed, format="PNG")
    proc = await asyncio.create_subprocess_exec(
        "tesseract", "stdin", "stdout", "--psm", "7",
        "-c", "tessedit_char_whitelist=0123456789%-",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate(framed.getvalue())
    return re.sub(r"\s+", "", out.decode())


async def shows(page: Page, selector: str, expected: str, timeout_s: float = 15.0) -> str:
    """Wait until the DOM says ``expected`` there, then return what the pixels say.  The
    wallboard redraws its rows every second: an element replaced under the camera is
    looked for again."""
    for _ in range(5):
        await page.wait_for_selector(f"{selector}:text-is('{expected}')",
                                     timeout=timeout_s * 1000)
        try:
            return await read_off(page, selector)
        except PlaywrightError as exc:
            if "not attached" not in str(exc):
                raise
    raise AssertionError(f"{selector} kept being redrawn")


def keep(name: str, tmp: Path) -> Path:
    where = Path(os.environ.get("CCARI_SCREENSHOTS") or tmp)
    where.mkdir(parents=True, exist_ok=True)
    return where / name


async def test_the_wallboard_and_the_reports_read_off_their_screenshots(
    ccari: Runtime, voice_env: VoiceEnv, served: Served, tmp_path: Path,  # noqa: F811
) -> None:
    base, secrets = served
    await ready(ccari, "alice")
    async with chromium() as browser, phone(voice_env, "alice", hangup_after_ms=30000):
        # Three times the pixels: the OCR reads large digits, not a thumbnail.
        context = await browser.new_context(device_scale_factor=3,
                                            viewport={"width": 1280, "height": 900})
        sam = await agent_login(await context.new_page(), base, "sam",
                                secrets["acme.sam.web"], ready=False)
        await sam.goto(f"{base}/supervisor/wallboard")
        await sam.wait_for_selector("#conn:text('live')")
        load = caller(voice_env, digits="1", hangup_after_ms=8000, caller="15551110009")
        load.calls, load.rate, load.max_concurrent = CALLERS, 10.0, CALLERS
        await load.start()

        row = "#queues tbody tr[data-medium=voice][data-skill=sales]"
        assert await shows(sam, "#total-waiting", str(CALLERS - 1)) == str(CALLERS - 1)
        assert await shows(sam, f"{row} td.waiting", str(CALLERS - 1)) == str(CALLERS - 1)
        await sam.screenshot(path=keep("wallboard-loaded.png", tmp_path), full_page=True)

        # alice's caller hangs up after talking; the three waiting give up at the same time.
        result = await load.wait()
        assert result.successful == CALLERS, result.describe()
        assert await shows(sam, "#total-waiting", "0") == "0"
        assert await shows(sam, "#total-abandon", "75 %") == "75%"
        assert await shows(sam, f"{row} td.abandon", "75 %") == "75%"
        await sam.screenshot(path=keep("wallboard-after.png", tmp_path), full_page=True)

        await sam.goto(f"{base}/supervisor/reports?interval=day&by=skill")
        await sam.wait_for_selector("#chart canvas")
        await sam.screenshot(path=keep("reports.png", tmp_path), full_page=True)
        figures = {cell: await read_off(sam, f"#report tr.total td.{cell}")
                   for cell in ("offered", "answered", "abandoned")}
        # The same day through the API, as the page's own form states it.
        period = {k: await sam.input_value(f"#query input[name={k}]") for k in ("from", "to")}
        api = await context.request.get(f"{base}/supervisor/api/reports",
                                        params={**period, "interval": "day", "by": "skill"})
        assert api.status == 200, await api.text()
        [total] = [r for r in (await api.json())["rows"] if r["key"] == "all"]
    assert figures == {"offered": str(CALLERS), "answered": "1", "abandoned": str(CALLERS - 1)}
    assert figures == {k: str(total[k]) for k in figures}, total

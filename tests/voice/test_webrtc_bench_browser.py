"""``python -m bench.webrtc --quick`` (about 20 s on the real PBX): one talk-now call from
Chromium and one SIPp carrier call wait in acme's queue, and each hears the music on hold
intact (under 1% loss, 80% of the packets in the window, under 5% concealed on the page).
The bench's own world checks that no channel or bridge is left."""

from __future__ import annotations

import pytest

from bench.webrtc import main, parse

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


@pytest.mark.timeout(120)
async def test_quick_webrtc_bench_hears_intact_audio_on_both_sides(
        capsys: pytest.CaptureFixture[str]) -> None:
    results = await main(parse(["--quick"]))
    print(capsys.readouterr().out)
    (web,), (sip,) = results["webrtc"], results["sip"]
    assert (web.ok, sip.ok) == (1, 1), (web.calls, sip.calls)

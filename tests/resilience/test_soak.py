"""The soak in its bounded form (``python -m bench.soak --quick``, about a minute on the real
PBX): 30 s of calls answered and talked by SIPp agent phones, customer chats and callback
requests, after a warm-up.  Between the idle sample after the warm-up and the one at the end,
ccari's and Asterisk's open file descriptors grow by at most ``FD_BOUND``; no channel, bridge
or database connection is left over; nothing acknowledged is lost.  Memory is printed, not
judged: 30 s is too short to tell Asterisk's allocator warming up from a leak (the default
10-minute run is for that)."""

from __future__ import annotations

import pytest

from bench.soak import main, parse

pytestmark = pytest.mark.pbx

FD_BOUND = 10  # measured: -1 (ccari) and -2 (Asterisk) over 120 calls and 30 chats


@pytest.mark.timeout(300)
async def test_quick_soak_leaks_no_channel_bridge_connection_or_descriptor(
        capsys: pytest.CaptureFixture[str]) -> None:
    out = await main(parse(["--quick"]))
    print(capsys.readouterr().out)
    assert out.served > 0 and out.served >= 0.9 * out.calls, out.line()
    assert out.chats["ok"] > 0 and out.acked > 0 and out.lost_acks == 0, out.chats
    assert (out.leaked_channels, out.leaked_bridges, out.leaked_db_connections) == (0, 0, 0), \
        out.line()
    assert out.fd_growth <= FD_BOUND, out.line()

"""The suite's port picker: pytest-xdist workers never pick the same port, a picked port is
not handed out again soon, an RTP pick leaves room for RTCP and a second stream, and no
port a browser refuses to open a page on is handed out."""

from __future__ import annotations

import socket

import pytest

from tests.support import sipp


@pytest.mark.parametrize("count", [1, 2, 4])
def test_the_workers_slices_never_meet(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    slices = []
    for i in range(count):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{i}")
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(count))
        slices.append(set(sipp._worker_slice()))
    assert all(not (a & b) for i, a in enumerate(slices) for b in slices[i + 1:])
    assert all(len(s) >= 1000 and max(s) < 32768 for s in slices)  # below the ephemeral ports


def test_a_port_is_handed_out_once_and_a_taken_one_skipped() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", sipp._cursor if sipp._cursor < sipp._SLICE.stop
                    else sipp._SLICE.start))
        held = taken.getsockname()[1]
        picks = [sipp.free_port("127.0.0.1"), sipp.free_port("127.0.0.1", socket.SOCK_STREAM),
                 sipp.free_port("127.0.0.1", even_pair=True)]
    assert held not in picks
    assert len(set(picks)) == 3 and all(p in sipp._SLICE for p in picks)
    assert picks[2] % 2 == 0 and not {picks[2] + 1, picks[2] + 2, picks[2] + 3} & set(picks[:2])


def test_no_port_a_browser_refuses_is_handed_out() -> None:
    picks = {sipp.free_port("127.0.0.1", socket.SOCK_STREAM) for _ in range(len(sipp._SLICE))}
    assert picks and not picks & {4045, 5060, 6000, 6667}
    assert not sipp._UNSAFE & picks

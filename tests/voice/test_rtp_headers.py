"""The capture's judge (``tests/support/rtp.py``): what counts as a break of RTP continuity
in what a peer received on the loopback, where nothing is lost."""

from __future__ import annotations

import pytest

from tests.support.rtp import RtpHeader, continuity_breaks, runs


def _h(ssrc: int, seq: int, marker: bool = False) -> RtpHeader:
    return RtpHeader(0.0, seq, seq * 160, ssrc, marker, 0)


CASES = [
    ("one stream", [_h(1, 10), _h(1, 11), _h(1, 12)], []),
    ("the first packet needs no marker", [_h(1, 5, True), _h(1, 6)], []),
    ("the sequence wraps", [_h(1, 65535), _h(1, 0), _h(1, 1)], []),
    ("a new source, marked", [_h(1, 10), _h(1, 11), _h(2, 500, True), _h(2, 501)], []),
    ("a new source, unmarked", [_h(1, 10), _h(2, 500)],
     ["packet 1: ssrc 00000002 starts without the marker bit"]),
    ("a packet missing", [_h(1, 10), _h(1, 12)], ["packet 1: ssrc 00000001 seq 12 after 10"]),
    ("a packet repeated", [_h(1, 10), _h(1, 10)], ["packet 1: ssrc 00000001 seq 10 after 10"]),
    ("a marker inside a stream is no break", [_h(1, 10), _h(1, 11, True)], []),
    ("a source back: its numbers must follow on", [_h(1, 10), _h(2, 3, True), _h(1, 11, True)],
     []),
    ("a source back with a jump", [_h(1, 10), _h(2, 3, True), _h(1, 40, True)],
     ["packet 2: ssrc 00000001 seq 40 after 10"]),
]


@pytest.mark.parametrize(("headers", "breaks"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_continuity_breaks(headers: list[RtpHeader], breaks: list[str]) -> None:
    assert continuity_breaks(headers) == breaks


def test_runs_cut_the_capture_where_the_ssrc_changes() -> None:
    got = runs([_h(1, 1), _h(1, 2), _h(2, 9, True), _h(1, 3, True)])
    assert [(r.ssrc, r.start, r.packets) for r in got] == [(1, 0, 2), (2, 2, 1), (1, 3, 1)]

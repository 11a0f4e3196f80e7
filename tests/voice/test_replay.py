"""What a reopened agent page is told of her calls (the pure parts of
``ccari/voice/replay.py``; tests/voice/test_reopened_page_browser.py reloads a real page on
the real PBX)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from ccari.storage.models import Contact
from ccari.voice.calls import Call, QueueSettings
from ccari.voice.replay import awaiting_wrap_up, call_messages

ALICE, BOB = 1, 2
NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
SINCE = NOW - dt.timedelta(hours=12)


def call(phase: str, *, held: bool = False, muted: bool = False) -> Call:
    c = Call("c1", 1, "ch1", QueueSettings(20, 5.0, 30.0), phase=phase, muted=muted)
    c.held_at = time.monotonic() if held else None
    return c


@pytest.mark.parametrize(("phase", "held", "muted", "consulting", "want"), [
    ("offered", False, False, False, []),  # ringing her phone: the offer alone
    ("connected", False, False, False, ["connected"]),
    ("connected", True, False, False, ["connected", "held"]),
    ("connected", False, True, False, ["connected", "muted"]),
    ("connected", True, True, False, ["connected", "held", "muted"]),
    # The caller waits on a consult: the page shows the consult, not a hold.
    ("connected", True, False, True, ["connected"]),
])
def test_a_live_call_is_told_as_it_stands(phase: str, held: bool, muted: bool,
                                          consulting: bool, want: list[str]) -> None:
    messages = call_messages(call(phase, held=held, muted=muted), consulting)
    assert [m["type"] for m in messages] == want
    assert all(m["contact_id"] == "c1" for m in messages)


def contact(cid: str, state: str, meta: dict[str, Any] | None = None, *,
            ended_h: float | None = None) -> Contact:
    ended = None if ended_h is None else NOW - dt.timedelta(hours=ended_h)
    return Contact(id=cid, tenant_id=1, medium="voice", state=state, meta=meta or {},
                   agent_id=ALICE, ended_at=ended)


@pytest.mark.parametrize(("contacts", "want"), [
    ([], []),
    # Her newest call ended without her code: back in wrap-up.
    ([contact("a", "completed", ended_h=0.01)], ["a"]),
    # ... but only the newest: an older one she never coded is not brought back.
    ([contact("a", "completed", ended_h=0.01), contact("b", "completed", ended_h=1)], ["a"]),
    ([contact("a", "completed", {"ended_by": "caller-hangup"}, ended_h=0.01),
      contact("b", "completed", ended_h=1)], []),
    # Ended longer ago than a shift: not brought back.
    ([contact("a", "completed", ended_h=13)], []),
    # A conference she left goes on: hers to wrap up; its code given: not again.
    ([contact("a", "connected", {"agent_left": ALICE})], ["a"]),
    ([contact("a", "connected", {"agent_left": ALICE, "wrap_up": {"disposition": "x"}})], []),
    ([contact("a", "connected", {"agent_left": BOB})], []),
    # A call still hers is a live call (told by the voice ACD), not a wrap-up.
    ([contact("a", "connected"), contact("b", "completed", ended_h=0.5)], ["b"]),
    ([contact("a", "connected", {"agent_left": ALICE}),
      contact("b", "completed", ended_h=0.5)], ["a", "b"]),
])
def test_the_calls_that_await_her_wrap_up(contacts: list[Contact], want: list[str]) -> None:
    assert [c.id for c in awaiting_wrap_up(contacts, ALICE, SINCE)] == want

"""The monitoring modes' table and planner: every change of mode, walked."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from ccari.voice.monitoring import (
    LAYOUTS,
    IllegalSwitch,
    Logged,
    Mode,
    NoAgent,
    Plan,
    Snoop,
    after_agent_left,
    check_mode,
    logged_sessions,
    plan,
)

MODES: list[Mode | None] = [None, *Mode]


@dataclass
class Media:
    """What Asterisk has of a session: the snoop's directions, where her phone is."""

    snoop: Snoop | None = None
    where: str | None = None  # "call" | "monitor"
    agent: bool = True
    agent_sees: Mode | None = None
    fill: bool = False

    def apply(self, steps: Plan) -> None:
        if steps.drop_snoop:
            assert self.snoop is not None, "drops a snoop that is not there"
            self.snoop = None
        if steps.new_snoop is not None:
            self.snoop = steps.new_snoop
        assert not (steps.to_call and steps.to_monitor)
        if steps.to_call:
            assert self.where != "call"
            self.where = "call"
        if steps.to_monitor:
            assert self.where != "monitor"
            self.where = "monitor"
        assert not (steps.start_fill and steps.stop_fill)
        if steps.start_fill:
            assert not self.fill
            self.fill = True
        if steps.stop_fill:
            assert self.fill
            self.fill = False
        if steps.drop_agent:
            assert self.agent
            self.agent = False
        if steps.notify is not None:
            self.agent_sees = steps.notify
        if steps.notify_gone:
            assert self.agent_sees is not None
            self.agent_sees = None


def reached(before: Mode | None) -> Media:
    media = Media()
    if before is not None:
        media.apply(plan(None, before))
    return media


def matches(media: Media, mode: Mode) -> bool:
    layout = LAYOUTS[mode]
    return (media.snoop == layout.snoop and media.where == ("call" if layout.in_call else "monitor")
            and media.agent == layout.agent_stays and media.fill == layout.fill
            and media.agent_sees == (mode if layout.seen_by_agent else None))


@pytest.mark.parametrize(("before", "after"), list(itertools.product(MODES, Mode)))
def test_every_switch_lands_on_the_target_layout(before: Mode | None, after: Mode) -> None:
    media = reached(before)
    if before is Mode.TAKE_OVER and after is not Mode.TAKE_OVER:
        with pytest.raises(IllegalSwitch):
            plan(before, after)
        return
    media.apply(plan(before, after))
    assert matches(media, after)


@pytest.mark.parametrize("before", list(Mode))
def test_ending_a_session_drops_the_snoop_and_tells_the_agent(before: Mode) -> None:
    steps = plan(before, None)
    assert steps.drop_snoop == (LAYOUTS[before].snoop is not None)
    assert steps.new_snoop is None and not steps.to_call and not steps.drop_agent
    assert steps.stop_fill == LAYOUTS[before].fill and not steps.start_fill
    assert steps.notify_gone == LAYOUTS[before].seen_by_agent


@pytest.mark.parametrize(("before", "after", "expected"), [
    # Her phone answers in listen: a snoop that hears both sides and speaks nowhere, and
    # silence in the call's bridge (it mixes for as long as a snoop is on).
    (None, Mode.LISTEN, Plan(new_snoop=Snoop("both", "none"), to_monitor=True,
                             start_fill=True)),
    # Listen -> whisper: a new snoop that speaks to the agent; the agent sees who.
    (Mode.LISTEN, Mode.WHISPER, Plan(new_snoop=Snoop("both", "out"), drop_snoop=True,
                                     notify=Mode.WHISPER)),
    (Mode.WHISPER, Mode.BARGE, Plan(drop_snoop=True, to_call=True, stop_fill=True,
                                    notify=Mode.BARGE)),
    # Whisper -> listen: the snoops change, the call's bridge does not (its silence stays).
    (Mode.WHISPER, Mode.LISTEN, Plan(new_snoop=Snoop("both", "none"), drop_snoop=True,
                                     notify_gone=True)),
    (Mode.BARGE, Mode.LISTEN, Plan(new_snoop=Snoop("both", "none"), to_monitor=True,
                                   start_fill=True, notify_gone=True)),
    (Mode.BARGE, Mode.TAKE_OVER, Plan(drop_agent=True, notify=Mode.TAKE_OVER)),
    (Mode.LISTEN, Mode.LISTEN, Plan()),
])
def test_plan_rows(before: Mode | None, after: Mode, expected: Plan) -> None:
    assert plan(before, after) == expected


@pytest.mark.parametrize(("mode", "agent_in_call", "allowed"), [
    *((m, True, True) for m in Mode),
    # She left her conference to the others: the call can be heard and joined, not
    # whispered into (to nobody) or taken over (from nobody).
    (Mode.LISTEN, False, True), (Mode.BARGE, False, True),
    (Mode.WHISPER, False, False), (Mode.TAKE_OVER, False, False),
])
def test_the_modes_a_call_without_its_agent_allows(mode: Mode, agent_in_call: bool,
                                                   allowed: bool) -> None:
    if allowed:
        check_mode(mode, agent_in_call)
    else:
        with pytest.raises(NoAgent):
            check_mode(mode, agent_in_call)


@pytest.mark.parametrize(("before", "after"), [
    (Mode.LISTEN, Mode.LISTEN), (Mode.WHISPER, Mode.LISTEN), (Mode.BARGE, Mode.BARGE)])
def test_a_session_listens_on_when_the_agent_leaves(before: Mode, after: Mode) -> None:
    """Her leg's snoop went with her: a listening session gets a new snoop (on the
    customer's leg), a whisper becomes listen (its silence stays); barge stays put."""
    media = reached(before)
    mode, steps = after_agent_left(before)
    assert mode is after
    media.apply(steps)
    layout = LAYOUTS[after]
    assert (media.snoop, media.where, media.fill) == (
        layout.snoop, "call" if layout.in_call else "monitor", layout.fill)
    assert (steps.new_snoop is not None) == (LAYOUTS[before].snoop is not None)
    assert not steps.drop_agent and steps.notify is None


def started(sid: str, mode: str, who: int = 7) -> tuple[str, dict[str, object]]:
    return ("monitor-started", {"monitor": sid, "mode": mode, "supervisor_id": who})


@pytest.mark.parametrize(("events", "want"), [
    ([], {}),
    ([started("a", "listen")], {"a": Logged(7, Mode.LISTEN)}),
    # Switched twice: the last mode, and a silence per start or switch to stop.
    ([started("a", "listen"), ("monitor-mode", {"monitor": "a", "mode": "whisper"}),
      ("monitor-mode", {"monitor": "a", "mode": "barge"})],
     {"a": Logged(7, Mode.BARGE, fills=3)}),
    ([started("a", "listen"), ("monitor-stopped", {"monitor": "a", "reason": "stopped"})], {}),
    # Two supervisors, one stopped; other events of the call do not count.
    ([started("a", "listen", 7), ("held", {}), started("b", "barge", 8),
      ("monitor-stopped", {"monitor": "a"})], {"b": Logged(8, Mode.BARGE)}),
    ([started("a", "take_over")], {"a": Logged(7, Mode.TAKE_OVER)}),
])
def test_the_sessions_a_contacts_log_has_open(
        events: list[tuple[str, dict[str, object]]], want: dict[str, Logged]) -> None:
    assert logged_sessions(events) == want

"""The wallboard's pure figures: tables of contact stories, and a property against a recount."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccari.wallboard.stats import ALL, TALLY_S, AgentClock, Board, Move, by_state, midnight

T = 1_000_000.0  # "now" in the tables
_ids = itertools.count(1)


def story(contact: str, *steps: tuple[float, str], medium: str = "voice", skill: str = "sales",
          tenant: int = 1) -> list[Move]:
    """Moves of one contact: (seconds before T, new state), in order."""
    moves, before = [], None
    for ago, after in steps:
        moves.append(Move(next(_ids), T - ago, tenant, contact, medium, skill, before, after))
        before = after
    return moves


def board_of(*stories: list[Move], window_s: float = 900.0) -> Board:
    board = Board(window_s)
    for moves in stories:
        for m in moves:
            board.add(m)
    return board


def row(board: Board, medium: str = ALL, skill: str = ALL, tenant: int = 1,
        threshold_s: float = 20.0, since: float = T - 3600):
    rows = board.figures(tenant, T, threshold_s=threshold_s, midnight=since)
    return next(r for r in rows if (r.medium, r.skill) == (medium, skill))


@pytest.mark.parametrize(("stories", "sl", "abandon", "asa"), [
    # answered after 10 s: within 20 s
    ([story("a", (100, "ivr"), (90, "queued"), (85, "offered"), (80, "connected"))], 100.0, 0.0, 10.0),
    # answered after 30 s: outside
    ([story("a", (100, "queued"), (70, "connected"))], 0.0, 0.0, 30.0),
    # one in, one out, one abandoned from offered
    ([story("a", (100, "queued"), (95, "connected")),
      story("b", (100, "queued"), (50, "connected")),
      story("c", (100, "queued"), (90, "offered"), (80, "abandoned"))], 100 / 3, 100 / 3, 27.5),
    # left in the IVR: not a queue outcome at all
    ([story("a", (100, "ivr"), (90, "abandoned"))], None, None, None),
    # requeued after a declined offer: the wait runs from the first queueing
    ([story("a", (100, "queued"), (95, "offered"), (80, "queued"), (60, "offered"),
            (55, "connected"))], 0.0, 0.0, 45.0),
])
def test_service_level_abandon_rate_and_asa(stories, sl, abandon, asa) -> None:
    p = row(board_of(*stories)).window
    assert p.service_level == (pytest.approx(sl) if sl is not None else None)
    assert p.abandon_rate == (pytest.approx(abandon) if abandon is not None else None)
    assert p.asa_s == (pytest.approx(asa) if asa is not None else None)


def test_waiting_and_longest_wait_per_medium_and_skill() -> None:
    board = board_of(story("a", (40, "queued")), story("b", (25, "queued"), (5, "offered")),
                     story("c", (70, "queued"), medium="chat", skill="support"),
                     story("d", (100, "queued"), (90, "connected")))
    voice, chat, total = row(board, "voice", "sales"), row(board, "chat", "support"), row(board)
    assert (voice.waiting, voice.longest_wait_s) == (2, 40.0)
    assert (chat.waiting, chat.longest_wait_s) == (1, 70.0)
    assert (total.waiting, total.longest_wait_s, total.window.entered) == (3, 70.0, 4)


def test_the_window_and_today_count_different_outcomes() -> None:
    board = board_of(story("old", (3000, "queued"), (2990, "abandoned")),
                     story("new", (100, "queued"), (95, "connected")), window_s=900)
    p = row(board)
    assert (p.window.answered, p.window.abandoned, p.window.abandon_rate) == (1, 0, 0.0)
    assert (p.today.answered, p.today.abandoned, p.today.abandon_rate) == (1, 1, 50.0)


def test_moves_out_of_order_or_twice_count_once() -> None:
    moves = story("a", (100, "queued"), (90, "offered"), (85, "connected"), (10, "completed"))
    board = Board()
    for m in [moves[2], moves[0], moves[3], moves[1], moves[2]]:
        board.add(m)
    p = row(board).window
    assert (p.answered, p.asa_s, p.entered) == (1, 15.0, 1)
    assert row(board).waiting == 0


def test_predicted_next_to_experienced_and_other_tenants_apart() -> None:
    board = board_of(story("a", (100, "queued"), (70, "connected")),
                     story("b", (100, "queued"), (90, "connected")),
                     story("x", (100, "queued"), tenant=2), story("y", (3, "queued")))
    # only the contacts that joined the queue lately: an older prediction would be a guess
    assert board.unpredicted(T, 5.0) == [("y", 3.0)]
    board.predicted("a", 20.0)
    board.predicted("a", 99.0)  # the first prediction is the one kept
    p = row(board).window
    assert (p.predicted_wait_s, p.experienced_wait_s) == (20.0, 30.0)
    assert row(board).waiting == 1 and row(board, tenant=2).waiting == 1


def test_prune_forgets_ended_contacts_only() -> None:
    board = board_of(story("done", (5000, "queued"), (4990, "connected"), (4900, "completed")),
                     story("waiting", (5000, "queued")))
    board.prune(T - 4000)
    assert [(r.medium, r.waiting) for r in board.figures(1, T, threshold_s=20, midnight=0)] == \
        [("voice", 1), (ALL, 1)]


def test_midnight_in_the_tenants_zone() -> None:
    now = dt.datetime(2026, 12, 5, 0, 30, tzinfo=dt.UTC).timestamp()
    assert midnight(now, "UTC") == dt.datetime(2026, 12, 5, tzinfo=dt.UTC).timestamp()
    # 01:30 in Paris, 19:30 the day before in New York
    paris = dt.datetime(2026, 12, 4, 23, 0, tzinfo=dt.UTC).timestamp()
    assert midnight(now, "Europe/Paris") == paris
    ny = dt.datetime(2026, 12, 4, 5, 0, tzinfo=dt.UTC).timestamp()
    assert midnight(now, "America/New_York") == ny


def test_agents_keep_the_time_they_entered_their_state() -> None:
    clock = AgentClock()
    assert [a.in_state_s for a in clock.figures([(1, "Alice", "ready")], 100.0)] == [0.0]
    figures = clock.figures([(1, "Alice", "ready"), (2, "Bob", "busy")], 130.0)
    assert [(a.name, a.state, a.in_state_s) for a in figures] == \
        [("Alice", "ready", 30.0), ("Bob", "busy", 0.0)]
    again = clock.figures([(1, "Alice", "busy"), (2, "Bob", "busy")], 140.0)
    assert [a.in_state_s for a in again] == [0.0, 10.0]
    assert by_state(again) == {"busy": 2}


# ---- property: the figures are a recount of the stories -------------------------------------

PATHS = [("queued", "connected", "completed"), ("queued", "abandoned"),
         ("queued", "offered", "abandoned"), ("queued", "offered", "queued", "offered", "connected"),
         ("ivr", "abandoned"), ("ivr", "queued"), ("queued",)]


@st.composite
def stories(draw: st.DrawFn) -> list[list[Move]]:
    out = []
    for n in range(draw(st.integers(0, 12))):
        path = draw(st.sampled_from(PATHS))
        start = draw(st.floats(0, 2000))
        gaps = draw(st.lists(st.floats(0, 60), min_size=len(path), max_size=len(path)))
        ago, steps = start, []
        for state, gap in zip(path, gaps, strict=True):
            steps.append((ago, state))
            ago = max(ago - gap, 0.0)
        out.append(story(f"c{n}", *steps, medium=draw(st.sampled_from(["voice", "chat"]))))
    return out


@settings(max_examples=200, deadline=None)
@given(stories(), st.floats(1, 60), st.floats(60, 1500))
def test_service_level_and_abandon_rate_match_a_recount(all_stories, threshold, window) -> None:
    board = board_of(*all_stories, window_s=window)
    start = T - window
    for r in board.figures(1, T, threshold_s=threshold, midnight=T - 2500):
        answered = abandoned = within = 0
        for moves in all_stories:
            if r.medium not in (ALL, moves[0].medium):
                continue
            queued = next((m.at for m in moves if m.after == "queued"), None)
            conn = next((m.at for m in moves if m.after == "connected"), None)
            left = next((m.at for m in moves if m.after == "abandoned" and m.before != "ivr"), None)
            if conn is not None and queued is not None and start < conn <= T:
                answered += 1
                within += conn - queued <= threshold
            elif left is not None and start < left <= T:
                abandoned += 1
        p = r.window
        assert (p.answered, p.abandoned) == (answered, abandoned)
        if answered + abandoned:
            assert p.service_level is not None and p.abandon_rate is not None
            assert 0 <= p.service_level <= 100 and 0 <= p.abandon_rate <= 100
            assert p.service_level == pytest.approx(100 * within / (answered + abandoned))
            assert p.abandon_rate == pytest.approx(100 * abandoned / (answered + abandoned))
        else:
            assert p.service_level is None and p.abandon_rate is None


def test_a_deleted_tenant_is_forgotten_and_the_others_kept() -> None:
    board = board_of(story("a", (100, "queued"), (95, "connected"), tenant=1),
                     story("b", (100, "queued"), (50, "connected"), tenant=2))
    kept = row(board, tenant=2)
    board.forget_tenant(1)
    assert [r.medium for r in board.figures(1, T, threshold_s=20.0, midnight=T - 3600)
            if r.window.service_level is not None] == []
    assert row(board, tenant=2) == kept


@settings(max_examples=200, deadline=None)
@given(stories(), st.integers(10, 600), st.floats(60, 1500), st.floats(0, 3000))
def test_contacts_folded_out_before_the_window_leave_the_figures_as_they_were(
        all_stories, tenths, window, before_window) -> None:
    """Tallied per quarter of an hour, the contacts that ended before the window count as they
    did one by one (today's start on a quarter, as midnights are in every time zone;
    thresholds to the tenth of a second)."""
    threshold, today = tenths / 10, (T - 2500) // TALLY_S * TALLY_S
    kept = board_of(*all_stories, window_s=window)
    folded = board_of(*all_stories, window_s=window)
    folded.fold(T - window - before_window)
    assert folded.contacts <= kept.contacts
    expected = kept.figures(1, T, threshold_s=threshold, midnight=today)
    got = folded.figures(1, T, threshold_s=threshold, midnight=today)
    assert [(r.medium, r.skill, r.waiting) for r in got] == \
        [(r.medium, r.skill, r.waiting) for r in expected]
    for r, e in zip(got, expected, strict=True):
        for p, q in ((r.window, e.window), (r.today, e.today)):
            assert (p.entered, p.answered, p.abandoned) == (q.entered, q.answered, q.abandoned)
            for name in ("service_level", "abandon_rate", "asa_s"):
                a, b = getattr(p, name), getattr(q, name)
                assert (a is None) == (b is None) and (a is None or a == pytest.approx(b))


def test_hours_of_contacts_leave_tallies_per_quarter_not_per_contact() -> None:
    """As the service does every refresh: fold what ended before the window, prune the day
    before.  Three contacts a second for two hours: what is kept one by one is the window's,
    the tallies are one per quarter of an hour."""
    board, window = Board(900.0), 900.0
    for second in range(2 * 3600):
        now = T - 7200 + second
        for k in range(3):
            contact = f"c{second}.{k}"
            for ago, before, after in ((2, None, "queued"), (1, "queued", "connected"),
                                       (0, "connected", "completed")):
                board.add(Move(next(_ids), now - ago, 1, contact, "voice", "sales", before,
                               after))
        if second % 5 == 0:
            board.fold(now - window)
            board.prune(now - 3600)
    assert board.contacts <= 3 * (900 + 5 + 2)
    assert board.tallies <= 6
    since = T // TALLY_S * TALLY_S - 1800  # a midnight is on a quarter of an hour
    answered_at = [T - 7200 + second - 1 for second in range(2 * 3600)]
    assert row(board, since=since).today.answered == 3 * sum(since < at for at in answered_at)


def test_a_folded_contact_on_midnight_counts_as_it_did_one_by_one() -> None:
    """Periods are open at their start: an answer at midnight exactly is yesterday's, folded
    or not; one a second later is today's."""
    today = T // TALLY_S * TALLY_S - 1800
    at_midnight = story("a", (T - today + 10, "queued"), (T - today, "connected"),
                        (T - today - 5, "completed"))
    after = story("b", (T - today + 10, "queued"), (T - today - 1, "connected"),
                  (T - today - 5, "completed"))
    kept, folded = board_of(at_midnight, after), board_of(at_midnight, after)
    folded.fold(T - 900)
    assert folded.contacts == 0
    for board in (kept, folded):
        p = row(board, since=today).today
        assert (p.entered, p.answered, p.asa_s) == (0, 1, 11.0)


def test_the_moves_of_a_contact_share_its_strings() -> None:
    """Each event row decodes its own copies; the board keeps one of each."""
    from ccari.wallboard.services import move_of

    at = dt.datetime.now(dt.UTC)

    def copy(text: str) -> str:
        return "".join(list(text))  # equal, not the same object

    moves = [move_of(n, at, 1, copy("0a3f-contact"), "changed",
                     {"from": copy("queued"), "to": copy("offered")}, copy("voice"),
                     {"skill": copy("sales")}) for n in range(2)]
    first, second = (m for m in moves if m is not None)
    for name in ("contact", "medium", "skill", "before", "after"):
        assert getattr(first, name) is getattr(second, name), name


def test_a_busy_window_leaves_the_collector_one_object_per_contact():
    """A node at 100 calls/s keeps 90,000 contacts in a 15-minute window: their moves must not
    be objects the cyclic collector walks on every full pass (each pass stalls the event
    loop), only one per contact. Counted after a collection, as the collector counts them."""
    import gc

    stories = [story(f"gc-{n}", (300, "ivr"), (299, "queued"), (298, "offered"),
                     (297, "connected"), (200, "completed")) for n in range(2000)]
    board = board_of(*stories)
    gc.collect()
    before = len(gc.get_objects())
    more = [story(f"gc2-{n}", (300, "ivr"), (299, "queued"), (297, "connected"),
                  (200, "completed")) for n in range(2000)]
    for moves in more:
        for m in moves:
            board.add(m)
    del more
    gc.collect()
    assert board.contacts == 4000
    assert len(gc.get_objects()) - before <= 2500  # the tracks, and a little else

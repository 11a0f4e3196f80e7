"""What a rebuild hands the router of the open contacts: handled, waiting, or still offered
(a call whose phone rings on, or every offer of a router rebuilt in the process that made
them), by agent present or not."""

from __future__ import annotations

from typing import Any

import pytest

from ccari.contacts.routing import restore_args


def row(contact_id: str, state: str, agent_id: int | None = None,
        agent_left: str | None = None, medium: str = "chat") -> tuple[Any, ...]:
    """A row of ``routed_rows`` (its columns by position)."""
    return (contact_id, 1, medium, state, agent_id, None, "{}", None, 0, 100.0, 150.0, None,
            agent_left)


ROWS = [row("q", "queued"), row("o7", "offered", 7), row("o8", "offered", 8),
        row("c7", "connected", 7), row("c8", "connected", 8), row("l7", "connected", 7, "7"),
        row("v7", "offered", 7, medium="voice"), row("v8", "offered", 8, medium="voice")]


@pytest.mark.parametrize(
    ("offers_kept", "handled", "waiting", "offered"),
    [
        # A restart, an election: a pending offer on a page waits again, wherever its
        # agent is; a call ringing an agent present goes on ringing her (her phone's answer
        # or its ring's end tells the router), not handed to another agent meanwhile.
        (False, [("c7", "7", 150.0)], ["q", "o7", "o8", "v8"], [("v7", "7")]),
        # The leader rebuilt in place: its offers to agents present are kept.
        (True, [("c7", "7", 150.0)], ["q", "o8", "v8"], [("o7", "7"), ("v7", "7")]),
    ],
)
def test_contacts_by_what_the_router_holds_of_them(
        offers_kept: bool, handled: list[tuple[str, str, float]], waiting: list[str],
        offered: list[tuple[str, str]]) -> None:
    in_progress, queued, kept = restore_args(ROWS, {"7"}, offers_kept=offers_kept)
    assert [(item.id, agent, since) for item, agent, since in in_progress] == handled
    assert [item.id for item in queued] == waiting
    assert [(item.id, agent) for item, agent in kept] == offered

"""What a rebuild hands the router of the open contacts: handled, waiting, or (a router
rebuilt in the process that made its offers) still offered, by agent present or not."""

from __future__ import annotations

from typing import Any

import pytest

from ccari.contacts.routing import restore_args


def row(contact_id: str, state: str, agent_id: int | None = None,
        agent_left: str | None = None) -> tuple[Any, ...]:
    """A row of ``routed_rows`` (its columns by position)."""
    return (contact_id, 1, "chat", state, agent_id, None, "{}", None, 0, 100.0, 150.0, None,
            agent_left)


ROWS = [row("q", "queued"), row("o7", "offered", 7), row("o8", "offered", 8),
        row("c7", "connected", 7), row("c8", "connected", 8), row("l7", "connected", 7, "7")]


@pytest.mark.parametrize(
    ("offers_kept", "handled", "waiting", "offered"),
    [
        # A restart, an election: a pending offer waits again, wherever its agent is.
        (False, [("c7", "7", 150.0)], ["q", "o7", "o8"], []),
        # The leader rebuilt in place: its offers to agents present are kept.
        (True, [("c7", "7", 150.0)], ["q", "o8"], [("o7", "7")]),
    ],
)
def test_contacts_by_what_the_router_holds_of_them(
        offers_kept: bool, handled: list[tuple[str, str, float]], waiting: list[str],
        offered: list[tuple[str, str]]) -> None:
    in_progress, queued, kept = restore_args(ROWS, {"7"}, offers_kept=offers_kept)
    assert [(item.id, agent, since) for item, agent, since in in_progress] == handled
    assert [item.id for item in queued] == waiting
    assert [(item.id, agent) for item, agent in kept] == offered

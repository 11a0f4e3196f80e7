"""This node's part in routing: the one collaborator through which the queue learns whether
it routes, fences its offers and tells the routing node of work that came or went.

One node (:class:`SingleNode`, the default) routes its own contacts, unfenced.  Several
nodes (``ccari.cluster``): only the leader routes, every node's contacts; its offers are
written only while its fence holds in their transaction; a node that does not lead tells
the leader instead of routing, and the leader's pages are every node's.  A call is rung
by the node whose Asterisk carries it, whichever node decided the offer.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from ccari.agents.notifier import AgentHub, Pages
from ccari.storage.models import Agent, Contact


class RoutingRole(Protocol):
    # Whether the router holds every node's contacts (several nodes), or this node's only.
    routes_all_nodes: bool
    # The agent pages the router counts and tells: this node's, or every node's.
    pages: Pages

    def leads(self) -> bool:
        """Whether this node routes now."""

    def fence(self, session: Session) -> bool:
        """Whether an offer may be written in ``session``'s transaction (the caller's router
        is still the cluster's)."""

    async def tell_leader(self, what: str, **refs: Any) -> None:
        """A node that does not lead: what the router must hear (``enqueue``, ``withdraw``
        a contact; an offer ``accepted`` or ``declined``, a contact ``completed``, its
        ``priority`` or ``schedule`` changed; an agent's ``presence``, or her being
        ``engaged`` on a call the queue did not offer), by reference (ids: the leader reads
        the rest from the database)."""

    def presents_here(self, contact: Contact) -> bool:
        """Whether this node presents ``contact`` once it is offered: a call is rung by the
        node whose Asterisk carries it, the rest wherever the router runs."""

    async def present_elsewhere(self, contact: Contact, agent: Agent) -> None:
        """The offer of ``contact`` (saved) to ``agent``, presented by the node carrying it."""

    async def recall_elsewhere(self, contact: Contact, agent: Agent) -> None:
        """The offer of ``contact`` to ``agent`` ended by the node carrying it (she logs out)."""

    def known_state(self, agent_id: int) -> tuple[str, str | None] | None:
        """A node that does not route: the agent's (state, reason) in the leader's router,
        as told (None: not heard of)."""


class SingleNode:
    """One node: it always routes, its own contacts, with nobody to fence or tell."""

    routes_all_nodes = False

    def __init__(self, hub: AgentHub) -> None:
        self.pages: Pages = hub

    def leads(self) -> bool:
        return True

    def fence(self, session: Session) -> bool:
        return True

    async def tell_leader(self, what: str, **refs: Any) -> None:
        raise RuntimeError("a single node routes itself")  # never called: it leads

    def presents_here(self, contact: Contact) -> bool:
        return True

    async def present_elsewhere(self, contact: Contact, agent: Agent) -> None:
        raise RuntimeError("a single node presents every contact")  # never called

    async def recall_elsewhere(self, contact: Contact, agent: Agent) -> None:
        raise RuntimeError("a single node presents every contact")  # never called

    def known_state(self, agent_id: int) -> tuple[str, str | None] | None:
        return None  # its own router is the only one

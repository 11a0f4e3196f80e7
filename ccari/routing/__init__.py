"""Routing core: one universal queue, skill matching, agent media slots, wait prediction.

Pure: it takes facts and returns decisions. No I/O, no clock (every event takes ``now``, in
seconds), no randomness: the same events always give the same decisions. The store is the record
of truth; on start, rebuild with :meth:`Router.restore` (or ``agent_login`` / ``add_item`` with
the original arrival times): the queue order only depends on the items, so it is the same.

Facts: :class:`WorkItem` (medium, :class:`Requirement` s, priority, arrival, tenant, queue,
reserved agent, not-before time) and :class:`Agent` (attributes with proficiencies, pools,
:class:`SlotSpec`). Rules: :class:`Rules` of :class:`QueueRule` (pools, :class:`RelaxationStep`
s, :class:`Strategy`) per ``(tenant, queue)``.

Events, each returning the new :class:`Offer` s to make (an offer reserves the agent's slot
until ``accept``, ``reject`` or ``remove_item``)::

    add_item(item, now)                    remove_item(item_id, now)       # abandon, cancel
    agent_login(agent, now, ready=False, holding=())    # holding: what she still handles
    agent_update(agent, now)               # new skills, slots
    agent_ready(agent_id, now)             agent_not_ready(agent_id, now)
    agent_logout(agent_id, now)            accept(item_id, now)            # offer -> busy
    reject(item_id, now, missed=False)     # refused, or missed (lapsed): back in its place
    complete(item_id, now, wrap_up=False)  # or True (until agent_ready) or seconds
    update_priority(item_id, priority, now)        reschedule(item_id, not_before, now)
    set_hold_after(tenant, seconds, now)   # fair blending on (seconds) or off (0), per tenant
    tick(now)                              # call at next_deadline(): relaxation, callbacks
    restore(now, agents=..., in_progress=..., waiting=...)    # rebuild from the store

Queries: ``next_deadline()``, ``position(item_id)``, ``waiting(tenant)``,
``predicted_wait(item_id, now)``, ``predicted_waits(tenant, now)``, ``agent_state(agent_id)``,
``agent_reason(agent_id)`` (why the router made it not ready: a missed offer),
``agent_wrap_until(agent_id)`` (when its timed wrap-up ends),
``agent_kept_for(agent_id)`` (waiting calls its capacity is held back for: fair blending),
``snapshot()``; ``record_handle_time(tenant, medium, skill_of(item), seconds)`` seeds the
statistics. Refused events raise a :class:`RoutingError` and change nothing.

A voice ACD: a sales call, agent A (sales 5) and agent B (support, sales 2) ready::

    >>> from ccari.routing import *
    >>> router = Router(Rules(default=QueueRule(steps=(RelaxationStep(30, min_proficiency=2),))))
    >>> a = Agent("A", "acme", attributes={("skill", "sales"): 5})
    >>> b = Agent("B", "acme", attributes={("skill", "support"): 5, ("skill", "sales"): 2})
    >>> router.agent_login(a, 0.0, ready=True) + router.agent_login(b, 0.0, ready=True)
    []
    >>> sales = (Requirement("skill", "sales", min_proficiency=4),)
    >>> router.add_item(WorkItem("c1", "acme", Medium.VOICE, sales, arrived_at=10.0), 10.0)
    [Offer(item_id='c1', agent_id='A', medium=<Medium.VOICE: 'voice'>)]
    >>> router.reject("c1", 25.0, missed=True)  # A does not answer: any medium, same rule
    []
    >>> router.agent_state("A"), router.agent_reason("A"), router.position("c1")
    (<AgentState.NOT_READY: 'not_ready'>, <AwayReason.MISSED_OFFER: 'missed_offer'>, 1)
    >>> router.next_deadline()
    40.0
    >>> router.tick(40.0)  # waiting 30 s: sales 2 is enough now
    [Offer(item_id='c1', agent_id='B', medium=<Medium.VOICE: 'voice'>)]
    >>> router.accept("c1", 42.0) + router.complete("c1", 222.0, wrap_up=10.0)
    []
    >>> router.agent_state("B"), router.next_deadline()
    (<AgentState.WRAP_UP: 'wrap_up'>, 232.0)
"""

from ccari.routing.engine import Router
from ccari.routing.model import (
    CALLS,
    Agent,
    AgentState,
    AwayReason,
    DuplicateId,
    InvalidTransition,
    Medium,
    Offer,
    Requirement,
    RoutingError,
    SlotSpec,
    Snapshot,
    UnknownAgent,
    UnknownItem,
    WaitPrediction,
    WorkItem,
)
from ccari.routing.prediction import AppQueueHoldtime, erlang_c, erlang_c_wait
from ccari.routing.rules import QueueRule, RelaxationStep, Rules, Strategy
from ccari.routing.waits import skill_of

__all__ = [
    "Agent",
    "AgentState",
    "AppQueueHoldtime",
    "AwayReason",
    "CALLS",
    "DuplicateId",
    "InvalidTransition",
    "Medium",
    "Offer",
    "QueueRule",
    "RelaxationStep",
    "Requirement",
    "Router",
    "RoutingError",
    "Rules",
    "SlotSpec",
    "Snapshot",
    "Strategy",
    "UnknownAgent",
    "UnknownItem",
    "WaitPrediction",
    "WorkItem",
    "erlang_c",
    "erlang_c_wait",
    "skill_of",
]

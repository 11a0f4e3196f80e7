"""Routing core: one universal queue, skills, media slots, wait prediction. Pure: no I/O."""

from ccari.routing.engine import Router
from ccari.routing.model import (
    Agent,
    AgentState,
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

"""The tenant's recording policy and retention, pure: documents in, decisions out.

A policy is a JSON document kept on the tenant (``tenants.recording``)::

    {"mode": "on-demand", "retention_days": 90, "queues": {"sales": "all"},
     "agent_playback": false}

``mode``: ``all`` (every call is recorded from the moment it is bridged; the agent may
pause and resume, not stop), ``on-demand`` (the agent starts, stops, pauses and resumes),
``none`` (nothing).  ``queues`` overrides the mode per queue (by name).  ``retention_days``:
stored recordings older than that are deleted by the retention task (null: kept until
deleted on request).  ``agent_playback``: an agent may play the recordings of her own
contacts on the contact's page (default false: supervisors only).  A tenant without a
document records nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ccari.errors import CcariError

MODES = ("all", "on-demand", "none")
MAX_RETENTION_DAYS = 3660


class InvalidPolicy(CcariError):
    error_id = "bad-recording-policy"
    status = 422


def check(data: Any, queues: Iterable[str]) -> dict[str, Any]:
    """The policy document as it is saved, or :class:`InvalidPolicy` saying what is wrong.
    ``queues``: the tenant's queue names (an override names one of them)."""
    if not isinstance(data, dict):
        raise InvalidPolicy("the recording policy must be a JSON object")
    unknown = set(data) - {"mode", "retention_days", "queues", "agent_playback"}
    if unknown:
        raise InvalidPolicy(f"unknown field(s): {', '.join(sorted(unknown))}")
    mode = _mode(data.get("mode"), "mode")
    days = data.get("retention_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 1 <= days <= MAX_RETENTION_DAYS):
        raise InvalidPolicy(f"retention_days must be a whole number of days from 1 to "
                            f"{MAX_RETENTION_DAYS}, or null")
    overrides = data.get("queues", {})
    if not isinstance(overrides, dict):
        raise InvalidPolicy("queues must map a queue's name to a mode")
    known = set(queues)
    for name, value in overrides.items():
        if name not in known:
            raise InvalidPolicy(f"no queue {name!r}")
        _mode(value, f"queues.{name}")
    playback = data.get("agent_playback", False)
    if not isinstance(playback, bool):
        raise InvalidPolicy("agent_playback must be true or false")
    return {"mode": mode, "retention_days": days,
            "queues": {k: overrides[k] for k in sorted(overrides)}, "agent_playback": playback}


def agents_play_own(policy: Mapping[str, Any] | None) -> bool:
    """Whether the tenant's agents may play the recordings of their own contacts."""
    return bool(policy and policy.get("agent_playback") is True)


def _mode(value: Any, where: str) -> str:
    if value not in MODES:
        raise InvalidPolicy(f"{where} must be one of {', '.join(MODES)}")
    return str(value)


def mode_for(policy: Mapping[str, Any] | None, queue: str | None) -> str:
    """The mode of a call in ``queue`` (None: a call without a queue)."""
    if not policy:
        return "none"
    overrides = policy.get("queues") or {}
    if queue is not None and queue in overrides:
        return str(overrides[queue])
    return str(policy.get("mode", "none"))


@dataclass(frozen=True)
class Kept:
    """A stored recording as the retention sees it."""

    id: str
    tenant_id: int
    started_at: dt.datetime


def expired(recordings: Iterable[Kept], retention_days: Mapping[int, int | None],
            now: dt.datetime) -> list[str]:
    """The recordings past their tenant's retention (a tenant without one keeps them)."""
    out = []
    for r in recordings:
        days = retention_days.get(r.tenant_id)
        if days is not None and r.started_at <= now - dt.timedelta(days=days):
            out.append(r.id)
    return out


"""Wiring of the reports: the agents' state log (fed by the queue, written every second)
and the report routes on the internal listener."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.reports import http
from ccari.reports.services import AgentStateLog, Reports

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    states = AgentStateLog(rt.sessions)
    rt.queue.state_watchers.append(states.note)
    states.start()
    stack.push_async_callback(states.close)
    reports = Reports(rt.sessions, states,
                      default_threshold_s=rt.config.wallboard.service_level_s)
    rt.internal_setups.append(http.internal_setup(reports))

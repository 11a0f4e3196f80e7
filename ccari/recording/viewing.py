"""Who may open a contact's page and play its recordings, and who a recording heard: pure,
from the contact's row and event log (no I/O; ``pages.py`` reads and serves).

* The tenant's supervisors open every contact of their tenant.
* An agent opens the contacts she handled (connected to her, or handed on by her with a
  transfer), and only where the tenant's recording policy has ``agent_playback`` on.
* Anyone else, and everyone of another tenant, finds no such contact (404): the page says
  nothing of a contact one may not see.

A recording heard the caller, the agent on the call when it started (``on_call`` of its
``recording-started`` event) and every party that joined a conference while it ran (the
``conference-joined`` legs, named by their ``conference-dialling``), until its end
(``recording-stored``, ``recording-lost`` or ``recording-stopped``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccari.recording import policy

ENDS = ("recording-stored", "recording-lost", "recording-stopped")


def handled_by(agent_id: int | None, meta: Mapping[str, Any]) -> set[int]:
    """The agents who handled the contact: its agent, and those who transferred it on."""
    out = {agent_id} if agent_id is not None else set()
    for step in (*meta.get("transfers", []), *meta.get("consults", [])):
        if isinstance(step, dict) and isinstance(step.get("agent_id"), int):
            out.add(step["agent_id"])
    return out


def may_open(role: str, viewer_id: int, handled: set[int],
             recording_policy: Mapping[str, Any] | None) -> bool:
    """Whether the viewer (an agent session of the contact's tenant) may open the contact."""
    if role == "supervisor":
        return True
    return viewer_id in handled and policy.agents_play_own(recording_policy)


@dataclass
class Heard:
    """Who one recording heard."""

    caller: bool = False
    agent_ids: list[int] = field(default_factory=list)
    parties: list[dict[str, str]] = field(default_factory=list)  # {"agent"} or {"number"}


@dataclass(frozen=True)
class Event:
    kind: str
    data: Mapping[str, Any]


def heard(events: Iterable[Event], recording_id: str) -> Heard:
    """Who the recording ``recording_id`` heard, from the contact's events in order."""
    out, dialled, on = Heard(), {}, False
    for ev in events:
        if ev.kind == "conference-dialling" and isinstance(ev.data.get("to"), dict):
            dialled[ev.data.get("leg")] = ev.data["to"]
        if ev.data.get("recording") == recording_id:
            if ev.kind == "recording-started":
                on, out.caller = True, True
                who = ev.data.get("on_call", ev.data.get("agent_id"))
                if isinstance(who, int) and who not in out.agent_ids:
                    out.agent_ids.append(who)
            elif ev.kind in ENDS:
                on = False
        elif on and ev.kind == "conference-joined":
            to = dialled.get(ev.data.get("leg"))
            if to is not None and to not in out.parties:
                out.parties.append({k: str(v) for k, v in to.items()})
    return out

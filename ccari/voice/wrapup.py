"""When an agent may give a call her disposition, and what the contact keeps: pure, from
the contact's state and bookkeeping (``controls.py`` and ``moves.py`` carry it out).

* A call that ended (``completed``): its agent's code replaces the end cause in
  ``disposition``, which moves to ``meta.ended_by`` (with the note in ``meta.note``).
* A call its agent left while it goes on (she left her conference to the others: the
  contact's ``meta.agent_left`` names her): she wraps up at once.  Her code waits in
  ``meta.wrap_up`` while the contact is live and the call's end writes it as above
  (:func:`at_end`), so the contact reads the same either way.
* Once per call: a second wrap-up is ``already-wrapped-up``; a call still hers (or not
  over) is ``call-not-ended``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from ccari.errors import Conflict


class When(enum.StrEnum):
    ENDED = "ended"  # the call is over
    LEFT = "left"  # she left it to the others; it goes on


def when(state: str, meta: Mapping[str, Any], agent_id: int) -> When:
    """Whether the call's agent ``agent_id`` may wrap it up now, and how (409 otherwise)."""
    if "ended_by" in meta or "wrap_up" in meta:
        raise Conflict("this call has its disposition", error_id="already-wrapped-up")
    if state == "completed":
        return When.ENDED
    if state == "connected" and meta.get("agent_left") == agent_id:
        return When.LEFT
    raise Conflict(f"the call is {state}", error_id="call-not-ended")


def ended(disposition: str | None, meta: Mapping[str, Any], code: str,
          note: str) -> tuple[str, dict[str, Any]]:
    """The disposition and meta of an ended call its agent wraps up with ``code``."""
    out = {**meta, "ended_by": disposition or ""}
    if note:
        out["note"] = note
    return code, out


def at_end(cause: str, meta: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The disposition and meta a live call's end writes when its agent wrapped up before
    (None: she did not; the end cause is the disposition until she does)."""
    early = meta.get("wrap_up")
    if not isinstance(early, dict):
        return None
    rest = {k: v for k, v in meta.items() if k != "wrap_up"}
    return ended(cause, rest, str(early.get("disposition", "")), str(early.get("note") or ""))

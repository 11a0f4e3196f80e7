"""The anticipated wait a customer is shown *before* asking for help.

The model is the router's own wait predictor (``ccari.routing.waits``), asked about a
request that does not exist yet: a probe item of the tenant, the medium and the topic
(``{"skill": "sales"}``) that would arrive now, i.e. behind every waiting item.  So the
figure counts the same things the queue announces to callers:

* the tenant's **staffed eligible agents** for that medium and topic (logged in, not
  ``not_ready``; agents on a break are expected back after their usual break length);
* the **items waiting** ahead that compete for those agents (each weighted by the share of
  its own eligible agents it shares with the probe), thinned by the usual abandonment;
* the **slots** of those agents for the medium (a chat agent with 3 chat slots frees one
  every third of a chat), each freeing after the residual of its current item's **handle
  time** (per tenant, medium and skill, learnt from completed contacts; 180 s before any);
* the relaxation steps of the queue's rule (a wider pool later may shorten the wait).

``anticipated_wait_s`` is the median time to an offer, ``None`` when no staffed agent can
take the request (e.g. nobody with that skill is logged in).  A customer whose request is
queued gets the same figure for their real item (``QueueService.view``).  The probe is never
added to the router: asking changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ccari.contacts.routing import requirements_from
from ccari.routing import Medium, Router, WorkItem

PROBE_ID = "\uffff-anticipated"  # sorts after any real id with the same age and priority


@dataclass(frozen=True)
class Anticipated:
    medium: str
    wait_s: float | None
    position: int
    eligible_agents: int
    available_agents: int

    def as_dict(self) -> dict[str, Any]:
        return {"medium": self.medium,
                "anticipated_wait_s": None if self.wait_s is None else round(self.wait_s),
                "position": self.position, "eligible_agents": self.eligible_agents,
                "available_agents": self.available_agents}


def anticipated_wait(router: Router, tenant_id: int, medium: Medium,
                     attributes: dict[str, Any], now: float, queue: str = "default") -> Anticipated:
    item = WorkItem(id=PROBE_ID, tenant=str(tenant_id), medium=medium,
                    requirements=requirements_from(attributes), arrived_at=now, queue=queue)
    prediction = router.predict_new(item, now)
    wait = prediction.wait if math.isfinite(prediction.wait) else None
    return Anticipated(str(medium), wait, prediction.position, prediction.eligible_agents,
                       prediction.available_agents)


def can_take(router: Router, tenant_id: int, medium: Medium,
             attributes: dict[str, Any], now: float) -> bool:
    """Is one of the tenant's staffed agents (logged in, not ``not_ready``) able to take such a
    request now, e.g. a video call (an agent page phone with a video slot)?  Only the yes or
    no ever reaches the public side."""
    return anticipated_wait(router, tenant_id, medium, attributes, now).eligible_agents > 0

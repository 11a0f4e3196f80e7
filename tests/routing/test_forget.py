"""A deleted tenant is forgotten by the router: its blending hold, queue rules and statistics
go, so that a tenant given the same id later is routed and predicted like a new one (and the
other tenants as before); refused while the tenant still has work or agents."""

from __future__ import annotations

import pytest

from ccari.routing import InvalidTransition, Medium, QueueRule, Router, Rules, skill_of

from .helpers import agent, item

GONE, OTHER = "7", "8"


def lived(r: Router, tenant: str) -> None:
    """A tenant's past: a hold, handle times, a caller who gave up, an agent in and out."""
    r.set_hold_after(tenant, 30.0, 0.0)
    for n in range(30):
        r.record_handle_time(tenant, Medium.VOICE, skill_of(item("x", "sales", tenant=tenant)),
                             20.0 + n)
    r.agent_login(agent(f"{tenant}-old", "sales", tenant=tenant), 1.0, ready=False)
    for n in range(6):
        r.add_item(item(f"{tenant}-gave-up-{n}", "sales", tenant=tenant, at=2.0 + n), 2.0 + n)
        r.remove_item(f"{tenant}-gave-up-{n}", 40.0 + n)
    r.agent_logout(f"{tenant}-old", 100.0)


def prediction(r: Router, tenant: str, now: float) -> object:
    """A busy agent and a caller waiting: the wait predicted for the next one."""
    r.agent_login(agent(f"{tenant}-new", "sales", tenant=tenant), now, ready=True)
    (offer,) = r.add_item(item(f"{tenant}-1", "sales", tenant=tenant, at=now), now)
    r.accept(offer.item_id, now + 1)
    r.add_item(item(f"{tenant}-2", "sales", tenant=tenant, at=now + 2), now + 2)
    return r.predict_new(item(f"{tenant}-3", "sales", tenant=tenant, at=now + 3), now + 3)


def test_a_forgotten_tenant_is_predicted_like_a_new_one_and_the_others_as_before() -> None:
    rules = Rules(queues={(GONE, "main"): QueueRule(), (OTHER, "main"): QueueRule()})
    r = Router(rules)
    lived(r, GONE)
    lived(r, OTHER)
    before = prediction(Router(rules), GONE, 200.0)
    assert prediction(_copy_of_past(rules), GONE, 200.0) != before  # the past does count
    r.forget_tenant(GONE)
    assert r.rules.hold_for(GONE) == r.rules.hold_after and r.rules.hold_for(OTHER) == 30.0
    assert (GONE, "main") not in r.rules.queues and (OTHER, "main") in r.rules.queues
    assert prediction(r, GONE, 200.0) == before
    only_other = Router(rules)
    lived(only_other, OTHER)
    assert prediction(r, OTHER, 300.0) == prediction(only_other, OTHER, 300.0)


def _copy_of_past(rules: Rules) -> Router:
    r = Router(rules)
    lived(r, GONE)
    return r


@pytest.mark.parametrize("left", ["item", "agent"])
def test_a_tenant_with_work_or_agents_is_not_forgotten(left: str) -> None:
    r = Router()
    if left == "item":
        r.add_item(item("waiting", "sales", tenant=GONE), 0.0)
    else:
        r.agent_login(agent("a", "sales", tenant=GONE), 0.0)
    r.set_hold_after(GONE, 12.0, 0.0)
    with pytest.raises(InvalidTransition):
        r.forget_tenant(GONE)
    assert r.rules.hold_for(GONE) == 12.0  # nothing changed
    if left == "item":
        assert [i.id for i in r.waiting(GONE)] == ["waiting"]

"""Demo data of the callbacks context (called by ``ccari.demo.seed.seed``; idempotent).

* acme calls back customer first, up to 3 tries, in +1 and +44 (fixed and mobile numbers;
  the built-in high-risk list still refuses e.g. +1 876 and +44 9 premium numbers);
* acme's IVR gets option 3, "call me back" (support), and a prompt that says so;
* every demo agent gets one ``callback`` slot (agent-first callbacks are routed to agents
  like any contact, exclusive with a voice call);
* Ada Lovelace gets a number that is valid in E.164 (+1 201 555 0199, a fictitious range),
  so a callback to it pops her record.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.callbacks.models import CallbackSettings
from ccari.storage.models import Agent, Customer, CustomerPhone, IvrMenu, IvrOption, Tenant
from ccari.voice.ivr import CALLBACK

ADA_CALLBACK_NUMBER = "12015550199"
IVR_DIGIT = "3"


async def seed_callbacks(session: AsyncSession) -> None:
    """The caller commits."""
    acme = await session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    for agent in await session.scalars(select(Agent)):
        slots = dict(agent.slots or {})
        per_medium = dict(slots.get("per_medium") or {"voice": 1})
        if "callback" not in per_medium:
            per_medium["callback"] = 1
            exclusive = list(slots.get("exclusive", ["voice"]))
            slots.update(per_medium=per_medium, exclusive=[*exclusive, "callback"])
            agent.slots = slots
    if acme is None:
        return
    if await session.get(CallbackSettings, acme.id) is None:
        session.add(CallbackSettings(tenant_id=acme.id, mode="customer_first", max_tries=3,
                                     retry_after_s=120.0, retry_factor=2.0, retry_max_s=1800.0,
                                     window_s=4 * 3600.0, ring_timeout_s=30,
                                     allow=["+1", "+44"], deny=[], caller_id=""))
    menu = await session.scalar(select(IvrMenu).where(IvrMenu.tenant_id == acme.id))
    if menu is not None and all(o.digit != IVR_DIGIT for o in menu.options):
        menu.prompt = "welcome-callback"
        menu.options.append(IvrOption(digit=IVR_DIGIT, label="call me back",
                                      attributes={"skill": "support"}, action=CALLBACK))
    ada = await session.scalar(select(Customer).where(Customer.tenant_id == acme.id,
                                                      Customer.name == "Ada Lovelace"))
    if ada is not None and all(p.number != ADA_CALLBACK_NUMBER for p in ada.phones):
        ada.phones.append(CustomerPhone(tenant_id=acme.id, number=ADA_CALLBACK_NUMBER))
    await session.flush()


def manifest(outbound_host: str) -> dict[str, object]:
    """What var/demo.json says about callbacks."""
    return {
        "request": "POST /v1/callbacks on the public listener (customer token), "
                   '{"phone": "+12015550199", "when": "now", "page_url": "...", "skill": "sales"}',
        "ivr_digit": IVR_DIGIT,
        "allowed_destinations": ["+1", "+44"],
        "customer_number": "+" + ADA_CALLBACK_NUMBER,
        "carrier_outbound": outbound_host,
    }

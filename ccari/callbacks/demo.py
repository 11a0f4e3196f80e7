"""Demo data of the callbacks context (called by ``ccari.demo.seed.seed``; idempotent).

* acme calls back customer first, up to 3 tries, in +1 and +44 (fixed and mobile numbers;
  the built-in high-risk list still refuses e.g. +1 876 and +44 9 premium numbers);
* acme's IVR gets option 3, "call me back" (support), and a prompt that says so, and
  every demo agent one ``callback`` slot (agent-first callbacks are routed to agents like
  any contact, exclusive with a voice call): both are part of the demo's tenant documents
  (``IVR_PROMPT``, ``IVR_OPTION``, ``SLOT``), applied by the provisioning model;
* Ada Lovelace gets a number that is valid in E.164 (+1 201 555 0199, a fictitious range),
  so a callback to it pops her record.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.callbacks.models import CallbackSettings
from ccari.storage.models import Customer, CustomerPhone, Tenant
from ccari.voice.ivr import CALLBACK

ADA_CALLBACK_NUMBER = "12015550199"
IVR_DIGIT = "3"
IVR_PROMPT = "welcome-callback"
IVR_OPTION = {"digit": IVR_DIGIT, "label": "call me back", "attributes": {"skill": "support"},
              "action": CALLBACK}
SLOT = "callback"  # one, exclusive with a voice call


async def seed_callbacks(session: AsyncSession) -> None:
    """The caller commits."""
    acme = await session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    if acme is None:
        return
    if await session.get(CallbackSettings, acme.id) is None:
        session.add(CallbackSettings(tenant_id=acme.id, mode="customer_first", max_tries=3,
                                     retry_after_s=120.0, retry_factor=2.0, retry_max_s=1800.0,
                                     window_s=4 * 3600.0, ring_timeout_s=30,
                                     allow=["+1", "+44"], deny=[], caller_id="",
                                     after_lost_call=True))
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

"""Demo mailboxes (called from ``ccari.demo.seed``) and their entry in ``var/demo.json``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.config import Config
from ccari.email.models import Mailbox
from ccari.storage.models import Tenant

# tenant slug -> (address, display name, default attributes, rules)
MAILBOXES: dict[str, list[tuple[str, str, dict[str, str], list[dict[str, Any]]]]] = {
    "acme": [
        ("support@acme.example", "Acme Broadband Support", {"skill": "support"},
         # Billing questions go to the sales desk (alice), whatever address they were sent to.
         [{"match": {"subject": r"invoice|bill|refund|price"}, "attributes": {"skill": "sales"},
           "priority": 1}]),
        ("sales@acme.example", "Acme Broadband Sales", {"skill": "sales"}, []),
    ],
    "globex": [("service@globex.example", "Globex Energy Service", {"skill": "service"}, [])],
}


async def seed(session: AsyncSession) -> None:
    """Create the demo mailboxes that are missing (the caller commits)."""
    for slug, boxes in MAILBOXES.items():
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            continue
        for address, name, attributes, rules in boxes:
            found = await session.scalar(select(Mailbox).where(Mailbox.address == address))
            if found is None:
                session.add(Mailbox(tenant_id=tenant.id, address=address, display_name=name,
                                    attributes=attributes, rules=rules, auto_ack=True,
                                    response_target_s=4 * 3600.0))
    await session.flush()


def manifest(cfg: Config) -> dict[str, Any]:
    s = cfg.smtp
    return {
        "intake": {"host": s.intake_host, "port": s.intake_port,
                   "how": "send mail with any SMTP client (no auth), e.g. "
                          f"swaks --server {s.intake_host}:{s.intake_port} "
                          "--to support@acme.example --from ada@example.com"},
        "relay": {"host": s.relay_host, "port": s.relay_port,
                  "note": "replies and acknowledgements are sent through this relay"},
        "mailboxes": [{"tenant": slug, "address": address, "routes_to": attributes,
                       "rules": rules}
                      for slug, boxes in MAILBOXES.items()
                      for address, _, attributes, rules in boxes],
    }

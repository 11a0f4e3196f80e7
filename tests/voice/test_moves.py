"""The voice hot path's contact moves, on both backends: a move that no longer applies
writes nothing and says so."""

from __future__ import annotations

import datetime as dt
import functools

from sqlalchemy import select
from sqlalchemy.orm import Session

from ccari.storage.batch import GroupCommit
from ccari.storage.models import Contact, ContactEvent, Tenant
from ccari.voice import moves

AT = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def _offered_call(s: Session) -> str:
    tenant = Tenant(slug="acme", name="Acme", created_at=AT)
    s.add(tenant)
    s.flush()
    contact = moves.arrived(s, tenant_id=tenant.id, caller="+15551230000", arrived_at=AT)
    moves.routed(s, contact.id, {"skill": "sales"}, at=AT)
    s.execute(Contact.__table__.update().where(Contact.id == contact.id)
              .values(state="offered", agent_channel_id="agent-leg"))
    return contact.id


async def test_an_agent_answering_after_the_caller_hung_up_connects_nothing(sessions) -> None:  # type: ignore[no-untyped-def]
    writes = GroupCommit(sessions)
    try:
        contact_id = await writes.run(_offered_call)
        at = AT + dt.timedelta(seconds=5)
        assert await writes.run(functools.partial(moves.abandoned, contact_id=contact_id,
                                                  at=at)) is not None
        # The agent's phone answers a moment later: no connected call, no event for it.
        answered = await writes.run(functools.partial(
            moves.answered, contact_id=contact_id, at=at, bridge_id="bridge-x",
            agent_channel_id="agent-leg"))
        assert answered is None
        async with sessions() as s:
            contact = await s.get(Contact, contact_id)
            kinds = (await s.scalars(select(ContactEvent.kind)
                                     .where(ContactEvent.contact_id == contact_id))).all()
        assert contact is not None and contact.state == "abandoned"
        assert contact.bridge_id is None and contact.connected_at is None
        assert "connected" not in kinds
    finally:
        await writes.close()

"""With the SIP edge as the phones' registrar, a plain SIP phone without a fixed contact is
rung through the edge by every node's Asterisk (and may not register there); a phone with
a fixed contact, a TLS phone and a browser phone are as before."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import update

from ccari.config import EdgeConfig
from ccari.storage.models import Agent
from ccari.tenants.pbx import build_spec


async def test_plain_sip_phones_without_a_contact_are_rung_through_the_edge(rt) -> None:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        for user, values in (("alice", {"phone_contact": None, "device": "sip"}),
                             ("bob", {"phone_contact": "sip:acme-bob@10.0.0.9:5060"}),
                             ("sam", {"phone_contact": None, "device": "browser"})):
            await s.execute(update(Agent).where(Agent.username == user).values(**values))
        await s.commit()
        before = await build_spec(s, rt.config)
        edge = replace(rt.config, edge=EdgeConfig(enabled=True, listen="udp:10.0.0.2:5080",
                                                  phones=True))
        after = await build_spec(s, edge)
    phones = {p.username: p for p in after.phones}
    assert phones["acme-alice"].static_contact == "sip:acme-alice@10.0.0.2:5080"
    assert not phones["acme-alice"].registers
    assert (phones["acme-bob"].static_contact, phones["acme-bob"].registers) == (
        "sip:acme-bob@10.0.0.9:5060", True)
    assert phones["acme-sam"].webrtc and phones["acme-sam"].registers
    assert phones["acme-sam"].static_contact is None
    assert {p.username: p for p in before.phones}["acme-alice"].registers
    assert edge.phone_registrar == "sip:10.0.0.2:5080"
    assert rt.config.phone_registrar == f"sip:{rt.config.pbx.host}:{rt.config.pbx.sip_port}"

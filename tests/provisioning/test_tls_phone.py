"""A ``sip-tls`` agent phone is never downgraded to plain SIP: without the PBX's TLS transport
the API refuses it and the rendered PBX leaves it out; with it, the phone is on TLS."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from ccari.storage.models import Agent
from ccari.tenants.pbx import build_spec
from tests.provisioning.test_http import ADMIN, agent, error
from tests.support.certs import self_signed


async def test_the_api_refuses_a_tls_phone_without_the_tls_transport(client: TestClient) -> None:
    body = agent("tina", device="sip-tls", phone_contact="sip:tina@127.0.0.1:5071;transport=tls")
    await error(await client.post("/api/tenants/acme/agents", json=body, headers=ADMIN),
                422, "tls-off")


async def test_the_pbx_leaves_a_tls_phone_out_without_tls_and_puts_it_on_tls_with_it(
        rt, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        await s.execute(update(Agent).where(Agent.username == "bob").values(device="sip-tls"))
        await s.commit()
        plain = await build_spec(s, rt.config)
        pem = self_signed(tmp_path)
        cfg = replace(rt.config, pbx=replace(rt.config.pbx, sip_tls_port=5061,
                                             sip_tls_cert=str(pem.cert), sip_tls_key=str(pem.key)))
        secure = await build_spec(s, cfg)
    assert plain.tls is None and "acme-bob" not in {p.username for p in plain.phones}
    assert secure.tls is not None and secure.tls.port == 5061
    assert secure.tls.key_pem == pem.key.read_text()
    assert {p.username: p.tls for p in secure.phones}["acme-bob"] is True
    assert {p.username: p.tls for p in secure.phones}["acme-alice"] is False

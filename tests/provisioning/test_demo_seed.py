"""The demo seed goes through the provisioning model: its changes are audited as ``demo``,
the tenants read back through the API as the demo describes them, and seeding again
changes nothing."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from ccari.demo.seed import seed
from tests.provisioning.test_http import ADMIN


async def test_the_demo_is_built_by_the_provisioning_service(rt, cfg, sessions,  # type: ignore[no-untyped-def]
                                                             client: TestClient) -> None:
    acme = await (await client.get("/api/tenants/acme", headers=ADMIN)).json()
    (menu,) = acme["menus"]
    assert (menu["default"], [(o["digit"], o["attributes"], o["action"])
                              for o in menu["options"]]) == (
        {"skill": "support"}, [("1", {"skill": "sales"}, None), ("2", {"skill": "support"}, None),
                               ("3", {"skill": "support"}, "callback")])
    assert acme["numbers"] == [{"did": "15550100", "queue": "main", "menu": "main"}]
    assert [(a["username"], a["site"], a["role"]) for a in acme["agents"]] == [
        ("alice", "London", "agent"), ("bob", "Leeds", "agent"), ("sam", "London", "supervisor"),
        ("vera", "London", "agent")]
    # The demo's video agent: her phone is the agent page, with a video slot.
    vera = acme["agents"][3]
    assert vera["device"] == "browser" and vera["slots"]["per_medium"]["video"] == 1
    assert "phone_contact" not in vera or vera["phone_contact"] is None
    log = (await (await client.get("/api/tenants/acme/audit?limit=1000", headers=ADMIN)).json())
    assert {e["actor"] for e in log["audit"]} == {"demo"}
    assert {(e["kind"], e["key"]) for e in log["audit"]} >= {
        ("tenant", "acme"), ("queue", "main"), ("menu", "main"), ("number", "15550100"),
        ("agent", "alice"), ("agent", "bob"), ("agent", "sam"), ("agent", "vera")}
    async with sessions() as s:
        again = await seed(s, cfg)
        await s.commit()
    assert again == rt.demo_secrets  # the same secrets
    relog = (await (await client.get("/api/tenants/acme/audit?limit=1000", headers=ADMIN)).json())
    assert relog == log  # nothing changed, nothing recorded
    assert await (await client.get("/api/tenants/acme", headers=ADMIN)).json() == acme

"""A SIPp call through a provisioned tenant's two-level IVR (1 sales > 2 upgrade) reaches
the agent with those skills, never the other one: shared by the API and admin-page tests."""

from __future__ import annotations

from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import Runtime
from ccari.storage.models import Contact
from tests.support.sipp import Sipp
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually


async def call_reaches_the_upgrade_agent(ccari: Runtime, voice_env: VoiceEnv, tenant: str,
                                         did: str, ports: dict[str, int]) -> None:
    """``ports``: the SIPp phones of ``dora`` (plan new) and ``eve`` (plan upgrade); both go
    ready, the caller presses 1 then 2, and only eve's phone rings."""
    agents = {}
    async with ccari.sessions() as s:
        for name in ports:
            agents[name] = await agents_repo.by_login(s, tenant, name)
    for agent in agents.values():
        assert agent is not None
        assert await ccari.queue.set_presence(agent, "ready") == "ready"

    def phone(name: str) -> Sipp:
        return Sipp("agent_uas.xml", local_ip=PHONE_IP, local_port=ports[name], calls=None,
                    params={"agent": f"{tenant}-{name}"}, timeout_s=60)

    async with phone("dora") as dora, phone("eve") as eve:
        call = Sipp("caller_dtmf.xml", voice_env.sip_target, service=did, local_ip=CARRIER_IP,
                    params={"digits": "12", "dtmf_after_ms": 800, "hangup_after_ms": 6000,
                            "caller": "15551239999"}, timeout_s=60, recv_timeout_ms=30000)
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()

        async def completed() -> Contact | None:
            async with ccari.sessions() as s:
                row = await s.scalar(select(Contact).where(Contact.caller_number == "15551239999"))
            return row if row is not None and row.state == "completed" else None

        done = await eventually(completed, what="the call completed")
    assert (await eve.result()).requests.get("INVITE") == 1
    assert not (await dora.result()).requests.get("INVITE")
    assert done.agent_id == agents["eve"].id  # type: ignore[union-attr]
    assert done.attributes == {"skill": "sales", "plan": "upgrade"}
    assert done.meta["ivr"] == ["1", "2"]

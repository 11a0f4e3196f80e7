"""The guard's handling of a TLS phone authenticated over another transport, against a fake
Asterisk registrar (the AMI actions :mod:`ccari.security.contacts` uses, with the answers
Asterisk 22 gives): the source blocked, the registration removed, also when Asterisk stores
it after reporting the authentication; other phones and TLS itself untouched."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.ami.actions import AmiMessage
from ccari.ami.errors import AmiResponseError
from ccari.ami.events import AmiEvent
from ccari.config import Config, PbxConfig, SecurityConfig
from ccari.security.services import SecurityService
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Agent, Tenant


class Registrar:
    """Asterisk's contacts as its AstDB holds them, and the AMI actions on them."""

    def __init__(self) -> None:
        self.db: dict[str, dict[str, str]] = {}
        self.reloads: list[str | None] = []

    def register(self, endpoint: str, uri: str, call_id: str) -> str:
        key = f"{endpoint};@{abs(hash(uri)):032x}"
        self.db[key] = {"uri": uri, "call_id": call_id, "endpoint": endpoint,
                        "expiration_time": "1796494332"}
        return key

    async def reload(self, module: str | None = None) -> None:
        self.reloads.append(module)

    async def command(self, cli: str) -> list[str]:
        assert cli.startswith("pjsip show aor ")  # reading an AOR prunes its expired contacts
        endpoint = cli.split()[-1]
        for key in [k for k, v in self.db.items()
                    if v["endpoint"] == endpoint and v["expiration_time"] == "1"]:
            del self.db[key]
        return []

    async def send(self, action: Mapping[str, str | Sequence[str]], *,
                   check: bool = True) -> AmiMessage | list[AmiMessage]:
        name = action["Action"]
        if name == "PJSIPShowContacts":
            if not self.db:
                error: AmiMessage = {"Response": "Error", "Message": "No Contacts found"}
                if check:
                    raise AmiResponseError("PJSIPShowContacts", error)
                return [error]
            return [{"Response": "Success", "EventList": "start"}, *[
                {"Event": "ContactList", "ObjectName": k, "Uri": v["uri"], "CallId": v["call_id"],
                 "Endpoint": v["endpoint"]} for k, v in self.db.items()]]
        key = str(action["Key"])
        if name == "DBGet":
            if key not in self.db:
                raise AmiResponseError("DBGet", {"Response": "Error"})
            return [{"Response": "Success"},
                    {"Event": "DBGetResponse", "Key": key, "Val": json.dumps(self.db[key])}]
        assert name == "DBPut", action
        self.db[key] = json.loads(str(action["Val"]))
        return {"Response": "Success"}


def success(account: str, transport: str = "UDP", address: str = "192.0.2.9",
            call_id: str = "leak-1") -> AmiEvent:
    return AmiEvent("SuccessfulAuth", {
        "Event": "SuccessfulAuth", "Service": "PJSIP", "AccountID": account,
        "SessionID": call_id, "RemoteAddress": f"IPV4/{transport}/{address}/5060",
        "UsingPassword": "1"})


def contact_status(endpoint: str, status: str = "NonQualified") -> AmiEvent:
    return AmiEvent("ContactStatus", {"Event": "ContactStatus", "AOR": endpoint,
                                      "EndpointName": endpoint, "ContactStatus": status})


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/ccari.db"
    await upgrade_async(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    async with sessions() as s:
        tenant = Tenant(slug="acme", name="Acme")
        s.add(tenant)
        await s.flush()
        for name, device in (("alice", "sip-tls"), ("bob", "sip")):
            s.add(Agent(tenant_id=tenant.id, username=name, display_name=name, password_hash="x",
                        phone_username=f"acme-{name}", phone_password="pw", device=device))
        await s.commit()
    yield sessions
    await engine.dispose()


@pytest.fixture
async def guarded(sessions: async_sessionmaker[AsyncSession],
                  tmp_path: Path) -> tuple[SecurityService, Registrar]:
    cfg = replace(Config(state_dir=str(tmp_path)),
                  pbx=PbxConfig(mode="external", render_dir=str(tmp_path / "pbx")),
                  security=SecurityConfig())
    service, registrar = SecurityService(sessions, cfg), Registrar()
    await service.start(registrar, registrar)
    return service, registrar


async def test_the_source_is_blocked_and_the_registration_removed(
        guarded: tuple[SecurityService, Registrar], tmp_path: Path) -> None:
    service, registrar = guarded
    tls = registrar.register("acme-alice", "sip:acme-alice@198.51.100.1:5061;transport=TLS",
                             "phone-1")
    registrar.register("acme-alice", "sip:acme-alice@192.0.2.9:5060", "leak-1")
    await service.on_event(success("acme-alice"))
    assert list(registrar.db) == [tls]  # the phone's own TLS registration stays
    assert list(service.tracker.blocked(service.clock())) == ["192.0.2.9"]
    assert "deny = 192.0.2.9/32" in (tmp_path / "pbx" / "ccari-acl.conf").read_text()
    assert registrar.reloads[-1] == "res_pjsip.so"
    assert service.breaches_total == 1 and service.blocks_total == 1


async def test_a_registration_stored_after_the_authentication_is_removed_when_it_appears(
        guarded: tuple[SecurityService, Registrar]) -> None:
    service, registrar = guarded
    await service.on_event(success("acme-alice"))  # Asterisk has not stored it yet
    registrar.register("acme-alice", "sip:acme-alice@192.0.2.9:5060", "leak-1")
    await service.on_contact_status(contact_status("acme-bob"))  # another phone: not looked at
    assert len(registrar.db) == 1
    await service.on_contact_status(contact_status("acme-alice"))
    assert registrar.db == {}


@pytest.mark.parametrize(("account", "transport"), [
    ("acme-alice", "TLS"),  # the TLS phone as it should be
    ("acme-bob", "UDP"),  # an ordinary phone
    ("carrier", "UDP"),  # not an agent's phone
])
async def test_other_authentications_change_nothing(
        guarded: tuple[SecurityService, Registrar], account: str, transport: str) -> None:
    service, registrar = guarded
    key = registrar.register(account, f"sip:{account}@192.0.2.9:5060", "leak-1")
    await service.on_event(success(account, transport))
    assert list(registrar.db) == [key]
    assert service.tracker.blocked(service.clock()) == {} and service.breaches_total == 0


async def test_over_the_browser_relay_the_registration_goes_but_ccari_is_not_blocked(
        guarded: tuple[SecurityService, Registrar]) -> None:
    service, registrar = guarded
    registrar.register("acme-alice", "sip:acme-alice@127.0.0.1:40000;transport=ws", "leak-1")
    await service.on_event(success("acme-alice", "WS", "127.0.0.1"))
    assert registrar.db == {} and service.tracker.blocked(service.clock()) == {}
    assert service.breaches_total == 1


async def test_an_allowed_network_is_not_blocked_but_the_registration_still_goes(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    cfg = replace(Config(state_dir=str(tmp_path)),
                  pbx=PbxConfig(mode="external", render_dir=str(tmp_path / "pbx")),
                  security=SecurityConfig(allow=("192.0.2.0/24",)))
    service, registrar = SecurityService(sessions, cfg), Registrar()
    await service.start(registrar, registrar)
    registrar.register("acme-alice", "sip:acme-alice@192.0.2.9:5060", "leak-1")
    await service.on_event(success("acme-alice"))
    assert registrar.db == {} and service.tracker.blocked(service.clock()) == {}
    assert service.breaches_total == 1 and service.blocks_total == 0

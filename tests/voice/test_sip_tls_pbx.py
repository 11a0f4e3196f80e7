"""SIP over TLS with SRTP for an agent's phone, on the real Asterisk (an instance of its own
with ``pbx.sip_tls_*`` and a self-signed certificate made for the test).

Alice's phone is a ``sip-tls`` device: a SIPp phone listening on TLS (the PBX root's SIPp
3.8, built with TLS; the host's Debian 3.6.1 is not).  A carrier call for sales rings it over
TLS with an SDES offer (``RTP/SAVP`` and ``a=crypto``), it answers with its own key and the
call connects; the transport presents the configured certificate to any TLS client."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ccari.app import Runtime, runtime
from ccari.config import Config, PbxConfig
from ccari.pbx import PbxProcess
from ccari.pbx.runtime import default_root
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Agent, Contact
from tests.support.certs import SelfSigned, self_signed
from tests.support.pbx import start_from_db
from tests.support.sipp import Sipp, SippBinary, free_port, free_tcp_port, run_sipp
from tests.support.waits import eventually
from tests.voice.conftest import CARRIER_IP, PHONE_IP, PHONES, VoiceEnv, pbx_counts, prepare_db
from tests.voice.test_voice_pbx import ready

pytestmark = pytest.mark.pbx


TLS_ARGS = ("-tls_cert", "cert.pem", "-tls_key", "key.pem")


def tls_sipp() -> SippBinary:
    """The PBX root's SIPp (3.8, built with TLS)."""
    root = default_root()
    return SippBinary(("chroot", str(root)), root)


class TlsEnv:
    def __init__(self, env: VoiceEnv, pem: SelfSigned, phone_port: int) -> None:
        self.env, self.pem, self.phone_port = env, pem, phone_port

    def pem_files(self) -> dict[str, bytes]:
        return {"cert.pem": self.pem.cert.read_bytes(), "key.pem": self.pem.key.read_bytes()}

    @property
    def tls_port(self) -> int:
        return self.env.pbx_config.sip_tls_port

    async def prepare(self, url: str) -> Config:
        """The demo, with alice's phone on TLS at the SIPp phone's port."""
        cfg = await prepare_db(self.env, url)
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as s:
                await s.execute(update(Agent).where(Agent.phone_username == "acme-alice").values(
                    device="sip-tls",
                    phone_contact=f"sip:acme-alice@{PHONE_IP}:{self.phone_port};transport=tls"))
                await s.commit()
        finally:
            await engine.dispose()
        return cfg


@pytest.fixture(scope="module")
def tls_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsEnv, PbxProcess]]:
    pem = self_signed(tmp_path_factory.mktemp("sip-tls"))
    name = f"tls{os.getpid()}"
    config = PbxConfig(
        instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
        ari_port=free_tcp_port(), ami_port=free_tcp_port(), rtp_start=12000, rtp_end=19998,
        carrier_match=(CARRIER_IP,), agent_qualify_s=0, sip_tls_port=free_tcp_port(),
        sip_tls_cert=str(pem.cert), sip_tls_key=str(pem.key))
    env = TlsEnv(VoiceEnv(tmp_path_factory.mktemp("tls-state"),
                          {p: free_port(PHONE_IP) for p in PHONES}, config),
                 pem, free_tcp_port(PHONE_IP))
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tls-db')}/spec.db"
    proc = start_from_db(lambda: env.prepare(url))
    yield env, proc
    proc.stop()


@pytest.fixture
async def tls_ccari(tls_pbx: tuple[TlsEnv, PbxProcess], tmp_path: Path) -> AsyncIterator[Runtime]:
    env, proc = tls_pbx
    cfg = await env.prepare(f"sqlite+aiosqlite:///{tmp_path}/ccari.db")
    async with runtime(cfg) as rt:
        yield rt

    async def clean() -> bool:
        return await asyncio.to_thread(pbx_counts, proc) == (0, 0)

    await eventually(clean, 15, "Asterisk to have no channel and no bridge left")


async def listening(port: int) -> bool:
    """Whether a TCP socket listens on ``port`` (from /proc/net/tcp: state 0A)."""
    with open("/proc/net/tcp") as f:
        next(f)
        return any(int(line.split()[1].split(":")[1], 16) == port and line.split()[3] == "0A"
                   for line in f)


def handshake(port: int, cafile: Path) -> dict:  # type: ignore[type-arg]
    """A TLS handshake with the PBX's SIP transport, trusting only the test's certificate."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return {"version": tls.version(), "peer": tls.getpeercert()}


async def test_a_tls_phone_is_rung_over_tls_with_an_sdes_offer_and_the_call_connects(
        tls_ccari: Runtime, tls_pbx: tuple[TlsEnv, PbxProcess]) -> None:
    env, proc = tls_pbx
    shook = await asyncio.to_thread(handshake, env.tls_port, env.pem.cert)
    assert shook["version"] in ("TLSv1.2", "TLSv1.3")
    assert ("IP Address", "127.0.0.1") in shook["peer"]["subjectAltName"]
    endpoint = await asyncio.to_thread(proc.rx, "pjsip show endpoint acme-alice")
    assert "media_encryption" in endpoint and "sdes" in endpoint
    assert "ccari-tls" in endpoint

    # The phone's own requests over TLS: its REGISTER authenticates on the TLS transport.
    async with tls_ccari.sessions() as s:
        password = await s.scalar(select(Agent.phone_password).where(
            Agent.phone_username == "acme-alice"))
    registered = await run_sipp(
        "register_guess.xml", f"127.0.0.1:{env.tls_port}", local_ip=PHONE_IP, timeout_s=15,
        local_port=free_tcp_port(PHONE_IP), binary=tls_sipp(),
        params={"user": "acme-alice", "password": str(password), "expires": 0},
        files=env.pem_files(), extra_args=["-t", "l1", *TLS_ARGS])
    assert registered.responses.get(200) == 1, registered.describe()

    await ready(tls_ccari, "alice")
    phone = Sipp("agent_uas_srtp.xml", local_ip=PHONE_IP, local_port=env.phone_port, calls=1,
                 params={"agent": "acme-alice"}, timeout_s=40,
                 binary=tls_sipp(), files=env.pem_files(),
                 extra_args=["-t", "l1", *TLS_ARGS, "-trace_msg", "-message_file", "messages.log"],
                 keep=("messages.log",))
    await phone.start()
    try:
        await eventually(lambda: listening(env.phone_port), 10, "the TLS phone to listen")
        call = Sipp("caller_dtmf.xml", env.env.sip_target, service="15550100",
                    local_ip=CARRIER_IP, timeout_s=40, recv_timeout_ms=20000,
                    params={"digits": "1", "dtmf_after_ms": 500, "hangup_after_ms": 4000,
                            "caller": "15551236666"})
        await call.start()

        async def connected() -> Contact | None:
            async with tls_ccari.sessions() as s:
                row = await s.scalar(select(Contact).where(Contact.caller_number == "15551236666"))
            return row if row is not None and row.connected_at is not None else None

        talking = await eventually(connected, 20, "the call to connect to alice's TLS phone")
        assert talking.agent_id is not None
        result = await call.wait()
        assert result.ok, result.describe()
        answered = await phone.wait()
    finally:
        await phone.stop()
    assert answered.ok, answered.describe()  # the INVITE had RTP/SAVP and a=crypto
    invite = answered.kept["messages.log"]
    assert "RTP/SAVP" in invite and "a=crypto:" in invite, invite[:2000]
    assert "transport=tls" in invite.lower() or "SIP/2.0/TLS" in invite

"""T.38 on the real PBX: the remote fax machine is a second Asterisk (the same sid root, its
own config, SIP on 127.0.0.2, the carrier's address) that dials the tenant's fax number
over PJSIP and runs ``SendFax`` asking for T.38 (re-INVITE, ``z``).  The fax arrives with
its pages, and ccari's Asterisk counts it as a T.38 session, not a G.711 one.  Dialled to
the tenant's voice number with fax detection on, it is found there and received over T.38."""

from __future__ import annotations

import io
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pypdf
import pytest

from ccari.ami import AmiAdapter
from ccari.app import Runtime, internal_app
from ccari.pbx import PbxProcess, provision, start
from ccari.pbx.spec import PbxSpec, Ports, Trunk
from tests.fax.conftest import FAX_DID, SENDER, STATION, FaxEnv, fax_pages, write_tiff
from tests.fax.test_fax_pbx import differing, settled
from tests.support.sipp import free_port

pytestmark = pytest.mark.pbx
REMOTE_IP = "127.0.0.2"  # the carrier's address: ccari's Asterisk takes its calls as such
VOICE_DID = "15550100"  # acme's voice number


@pytest.fixture(scope="module")
def remote(fax_env: FaxEnv, fax_pbx: PbxProcess) -> Iterator[PbxProcess]:
    """The far fax machine: an Asterisk whose only trunk leads to ccari's Asterisk."""
    name = f"faxremote{os.getpid()}"
    tcp = socket.SOCK_STREAM
    spec = PbxSpec(
        instance=name, app_name=f"remote-{name}", ari_user="remote",
        ari_password=secrets.token_urlsafe(16), ami_user="remote",
        ami_secret=secrets.token_urlsafe(16), bind=REMOTE_IP,
        ports=Ports(sip=free_port(REMOTE_IP), ari=free_port("127.0.0.1", tcp),
                    ami=free_port("127.0.0.1", tcp), rtp_start=24000, rtp_end=25998),
        trunks=(Trunk(name="carrier", match=("127.0.0.1",),
                      outbound_host=f"127.0.0.1:{fax_env.pbx_config.sip_port}"),))
    proc = start(spec, runtime=provision())
    yield proc
    proc.stop()


@pytest.fixture
async def remote_ami(remote: PbxProcess) -> AsyncIterator[AmiAdapter]:
    spec = remote.spec
    adapter = AmiAdapter("127.0.0.1", spec.ports.ami, spec.ami_user, spec.ami_secret)
    await adapter.connect()
    yield adapter
    await adapter.close()


def successes(pbx: PbxProcess) -> dict[str, int]:
    """Faxes spandsp completed on ``pbx`` so far, by mode (its ``fax show stats``)."""
    stats = pbx.rx("fax show stats")
    found = re.findall(r"Spandsp (G\.711|T\.38)\s*\nSuccess\s*:\s*(\d+)", stats)
    assert len(found) == 2, stats
    return {mode: int(n) for mode, n in found}


async def test_a_fax_sent_over_t38_is_received(
        ccari: Runtime, fax_db: Any, fax_pbx: PbxProcess, remote: PbxProcess,
        remote_ami: AmiAdapter, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    before = successes(fax_pbx)
    sent = fax_pages(2)
    tiff = write_tiff(remote, "t38", sent)
    result = await remote_ami.originate(
        action_id="t38-send", channel_id="t38-send",
        channel=f"PJSIP/carrier/sip:{FAX_DID}@127.0.0.1:{fax_pbx.spec.ports.sip}",
        application="SendFax", data=f"{tiff},z", caller_id=f'"Remote" <{SENDER}>',
        variables={"FAXOPT(localstationid)": STATION}, timeout_ms=10000)
    assert result.success, result.response
    [fax] = await settled(client, demo["acme.token"])
    assert (fax["status"], fax["pages"], fax["station_id"]) == ("received", 2, STATION)
    assert fax["mode"] == "t38"  # as Asterisk reported it (FAXMODE)
    resp = await client.get(fax["pdf"], headers={"Authorization": f"Bearer {demo['acme.token']}"})
    pdf = pypdf.PdfReader(io.BytesIO(await resp.read()))
    for page, source in zip(pdf.pages, sent, strict=True):
        assert differing(page.images[0].image, source) < 0.01
    # Received over T.38 (UDPTL), not as G.711 audio.
    after = successes(fax_pbx)
    assert (after["T.38"] - before["T.38"], after["G.711"] - before["G.711"]) == (1, 0)


async def test_a_t38_fax_to_the_voice_number_is_found_and_received(
        ccari: Runtime, fax_db: Any, fax_pbx: PbxProcess, remote: PbxProcess,
        remote_ami: AmiAdapter, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    resp = await client.put("/api/faxes/settings", json={"detect_on_voice": True},
                            headers={"Authorization": f"Bearer {demo['acme.token']}"})
    assert resp.status == 200
    before = successes(fax_pbx)
    sent = fax_pages(1)
    tiff = write_tiff(remote, "t38-voice", sent)
    result = await remote_ami.originate(
        action_id="t38-voice", channel_id="t38-voice",
        channel=f"PJSIP/carrier/sip:{VOICE_DID}@127.0.0.1:{fax_pbx.spec.ports.sip}",
        application="SendFax", data=f"{tiff},z", caller_id=f'"Remote" <{SENDER}>',
        variables={"FAXOPT(localstationid)": STATION}, timeout_ms=10000)
    assert result.success, result.response
    [fax] = await settled(client, demo["acme.token"])
    assert (fax["status"], fax["pages"], fax["detected"], fax["mode"]) == (
        "received", 1, True, "t38")
    resp = await client.get(fax["pdf"], headers={"Authorization": f"Bearer {demo['acme.token']}"})
    [page] = pypdf.PdfReader(io.BytesIO(await resp.read())).pages
    assert differing(page.images[0].image, sent[0]) < 0.01
    after = successes(fax_pbx)
    assert (after["T.38"] - before["T.38"], after["G.711"] - before["G.711"]) == (1, 0)

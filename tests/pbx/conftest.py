"""A real Asterisk for the PBX integration tests (the lead may move ``pbx`` to tests/conftest).

The session fixture provisions the root (cached after the first build), starts instance
"pytest" on its own ports, and at the end stops it and checks that no Asterisk process and
no bind mount is left behind.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccari.pbx import (
    Number,
    PbxProcess,
    PbxSpec,
    Phone,
    Ports,
    Trunk,
    load_or_create_secrets,
    provision,
    start,
)
from ccari.pbx.instance import any_running, pid_of
from ccari.pbx.runtime import mounts_under, root_lock
from tests.support.sipp import free_port

CARRIER_IP = "127.0.0.2"  # the carrier trunk is identified by this source address
AGENT_IP = "127.0.0.1"
# Own instance and ports per test session: several test runs may share this machine.
INSTANCE = f"pytest{os.getpid()}"
PORTS = Ports(sip=free_port(AGENT_IP), ari=free_port(AGENT_IP, socket.SOCK_STREAM),
              ami=free_port(AGENT_IP, socket.SOCK_STREAM), rtp_start=20000, rtp_end=30000)


def pbx_spec(state_dir: Path, agent_port: int, **changes: object) -> PbxSpec:
    creds = load_or_create_secrets(state_dir)
    fields: dict[str, object] = {
        "instance": INSTANCE,
        "app_name": f"ccari-{INSTANCE}",
        **creds,
        "ports": PORTS,
        "trunks": (Trunk("carrier", (CARRIER_IP,)),),
        "phones": (
            Phone("agent1", "agent1-password", f"sip:agent1@{AGENT_IP}:{agent_port}"),
            Phone("agent2", "agent2-password"),
        ),
        "numbers": (Number("15550100", "acme"), Number("15550200", "globex")),
    }
    fields.update(changes)
    return PbxSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pbx_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pbx-state")


@pytest.fixture(scope="session")
def agent_port() -> int:
    """The SIP port of agent1's phone (a SIPp UAS), its static contact."""
    return free_port(AGENT_IP)


@pytest.fixture(scope="session")
def pbx(pbx_state_dir: Path, agent_port: int) -> Iterator[PbxProcess]:
    runtime = provision()
    proc = start(pbx_spec(pbx_state_dir, agent_port), runtime=runtime)
    yield proc
    proc.stop()
    assert pid_of(proc.paths) is None, "Asterisk still running after stop()"
    if runtime.chroot:
        # Under the mounts' lock: another test session's Asterisk (a second worker) may be
        # stopping at the same moment, and releases the mounts under that lock.
        with root_lock(runtime):
            if not any_running(runtime):
                assert mounts_under(runtime.root) == [], "bind mounts left in the Asterisk root"


def active_channels(proc: PbxProcess) -> int:
    out = proc.rx("core show channels count")
    for line in out.splitlines():
        if "active channel" in line:
            return int(line.split()[0])
    raise AssertionError(f"unexpected output: {out!r}")


@pytest.fixture
def live_pbx(pbx: PbxProcess) -> Iterator[PbxProcess]:
    """``pbx``, checked before and after the test: no channel may be left behind."""
    assert active_channels(pbx) == 0, "a previous test leaked channels"
    yield pbx
    deadline = time.monotonic() + 5.0
    while (left := active_channels(pbx)) and time.monotonic() < deadline:
        time.sleep(0.05)  # hangups are asynchronous; poll until they are done
    if left:
        listing = pbx.rx("core show channels")
        pbx.rx("channel request hangup all")  # so that the next test starts clean
        pytest.fail(f"test leaked {left} channel(s):\n{listing}")

"""The guard enforcing its blocks with nftables, in a real kernel: a network namespace of the
test's own (nothing of this machine's firewall is touched) where ccari's ``inet ccari``
table is loaded by the service itself.  SIP datagrams to port 5060 from a blocked source
are dropped, a neighbour's still arrive; an unblock lets the source in again; a restarted
ccari puts the stored block back into an empty kernel."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.config import Config, PbxConfig, SecurityConfig
from ccari.security import nft
from ccari.security.facts import Failure
from ccari.security.services import SecurityService
from tests.security.test_security_ami import sessions  # noqa: F401 - fixture

ATTACKER, NEIGHBOUR = "127.0.0.5", "127.0.0.6"
# Datagrams from each source in turn to a SIP port, then one from the last source: loopback
# keeps their order, so what has not arrived when the last one has was dropped.
PROBE = r"""
import socket, sys
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 5060))
rx.settimeout(10)
sources = sys.argv[1:]
for src in sources:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind((src, 0))
    tx.sendto(b"OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n\r\n", ("127.0.0.1", 5060))
got = []
while sources[-1] not in got:
    got.append(rx.recvfrom(200)[1][0])
print(" ".join(sorted(set(got))))
"""


class NoPbx:
    async def reload(self, module: str | None = None) -> None:
        raise AssertionError("nftables enforcement reloads nothing in Asterisk")


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.fail("the nftables test needs root (the CI runs as root)")
    name = f"ccari-nft-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


async def reached(ns: str, *sources: str) -> set[str]:
    """Which of ``sources`` got a datagram through to port 5060 (the last always must)."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, sys.executable, "-c", PROBE, *sources, NEIGHBOUR,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return set(out.decode().split())


async def nft_in(ns: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec("ip", "netns", "exec", ns, "nft", *args,
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, args
    return out.decode()


async def kernel_set(ns: str) -> str:
    return await nft_in(ns, "list", "set", "inet", "ccari", "blocked4")


def nft_cfg(tmp_path: Path, ns: str) -> Config:
    return replace(Config(state_dir=str(tmp_path)),
                   pbx=PbxConfig(mode="external", render_dir=str(tmp_path / "pbx")),
                   security=SecurityConfig(max_failures=2, enforce="nftables",
                                           nft_command=("ip", "netns", "exec", ns, "nft")))


async def test_a_blocked_source_is_dropped_by_the_kernel_and_let_in_again(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path, netns: str,  # noqa: F811
) -> None:
    service = SecurityService(sessions, nft_cfg(tmp_path, netns))
    await service.start(NoPbx())
    assert await reached(netns, ATTACKER) == {ATTACKER, NEIGHBOUR}

    for _ in range(2):
        block = await service.on_failure(Failure("ChallengeResponseFailed", ATTACKER, "UDP",
                                                 "acme-alice"))
    assert block is not None and block.address == ATTACKER
    assert ATTACKER in await kernel_set(netns)
    assert await reached(netns, ATTACKER) == {NEIGHBOUR}
    assert not (tmp_path / "pbx").exists(), "no ACL written: the kernel enforces"

    # ccari restarts on a rebooted host (an empty ruleset): the stored block is enforced.
    await nft_in(netns, "delete", "table", "inet", "ccari")
    again = SecurityService(sessions, nft_cfg(tmp_path, netns))
    await again.start(NoPbx())
    assert await reached(netns, ATTACKER) == {NEIGHBOUR}

    assert await again.unblock(ATTACKER, "admin") == 1
    assert ATTACKER not in await kernel_set(netns)
    assert await reached(netns, ATTACKER) == {ATTACKER, NEIGHBOUR}


def test_the_table_names_only_addresses_and_the_sip_ports() -> None:
    text = nft.render(["2001:db8::1", "192.0.2.9", "192.0.2.9"], [5060, 5061])
    assert "elements = { 192.0.2.9 }" in text and "elements = { 2001:db8::1 }" in text
    assert "th dport { 5060, 5061 } drop" in text
    for bad in ("192.0.2.1; flush ruleset", "example.com", "192.0.2.0/24"):
        with pytest.raises(ValueError):
            nft.render([bad], [5060])
    with pytest.raises(ValueError):
        nft.render([], [])


async def test_a_refused_ruleset_is_retried_not_lost(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path,  # noqa: F811
) -> None:
    cfg = replace(nft_cfg(tmp_path, "none"), security=SecurityConfig(
        max_failures=1, enforce="nftables", nft_command=("false",)))
    service = SecurityService(sessions, cfg)
    await service.start(NoPbx())
    block = await service.on_failure(Failure("InvalidAccountID", ATTACKER, "UDP", "x"))
    assert block is not None  # stored first: a later apply enforces it
    assert service.apply_failures_total >= 1

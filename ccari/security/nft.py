"""Enforcement in the kernel: the blocked addresses as nftables sets (``security.enforce =
"nftables"``), for a deployment whose admin prefers the firewall to Asterisk's ACL.

ccari owns one table, ``inet ccari``: two sets of addresses (IPv4 and IPv6) and an input
chain that drops what they send to Asterisk's SIP ports (UDP and TCP, and the TLS port when
there is one) before Asterisk sees it.  The whole table is rendered from the running blocks
and loaded in one ``nft -f -`` transaction (the table is declared, deleted and defined again in
the same script: atomic, and nothing else of the host's ruleset is touched).  The command is
``security.nft_command`` (``nft``, or e.g. ``ip netns exec NS nft``); it runs with an
argument list, never a shell, and only validated addresses reach its input.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable, Sequence

TABLE = "ccari"


class NftError(OSError):
    """nft refused the ruleset or could not be run."""


def render(addresses: Iterable[str], ports: Sequence[int]) -> str:
    """The ``inet ccari`` table for ``addresses`` (IPs only) dropping SIP on ``ports``."""
    ips = {ipaddress.ip_address(a) for a in addresses}
    v4 = sorted(str(ip) for ip in ips if ip.version == 4)
    v6 = sorted(str(ip) for ip in ips if ip.version == 6)
    wanted = sorted({int(p) for p in ports if 0 < int(p) < 65536})
    if not wanted:
        raise ValueError("no SIP port to protect")
    port_set = "{ " + ", ".join(str(p) for p in wanted) + " }"

    def elements(found: list[str]) -> str:
        return f"        elements = {{ {', '.join(found)} }}\n" if found else ""

    return (
        f"table inet {TABLE} {{}}\n"
        f"delete table inet {TABLE}\n"
        f"table inet {TABLE} {{\n"
        "    set blocked4 {\n        type ipv4_addr\n" + elements(v4) + "    }\n"
        "    set blocked6 {\n        type ipv6_addr\n" + elements(v6) + "    }\n"
        "    chain sip_guard {\n"
        "        type filter hook input priority filter - 10; policy accept;\n"
        f"        ip saddr @blocked4 meta l4proto {{ udp, tcp }} th dport {port_set} drop\n"
        f"        ip6 saddr @blocked6 meta l4proto {{ udp, tcp }} th dport {port_set} drop\n"
        "    }\n"
        "}\n"
    )


async def load(command: Sequence[str], script: str) -> None:
    """Run ``command -f -`` with ``script`` on its input; :class:`NftError` if refused."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command, "-f", "-", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise NftError(f"cannot run {command[0]!r}: {exc}") from None
    _, err = await proc.communicate(script.encode())
    if proc.returncode != 0:
        raise NftError(f"nft refused the ruleset: {err.decode(errors='replace').strip()}")

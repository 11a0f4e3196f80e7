"""Where ccari may fetch a tenant's system from: the public internet, and the networks its
admin names (``crm.lookup_networks``: a CRM on the LAN or on the same host).

A tenant sets the URL of its entitlement lookup; without this guard it could point ccari at
ccari's own node (ARI, the internal listener), at the cloud's metadata service
(169.254.169.254) or at anything else on the inside, and read back what answers.  An
address that is not globally routable (loopback, private, link-local, shared, unspecified)
is refused unless it is in one of those networks: as an IP written in the URL, and as
every address a name resolves to, when the connection is made (so a name that resolves to
a public address when checked and to an inside one when used gains nothing).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Reach:
    """Which addresses a tenant's system may be fetched at (pure)."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks)

    def allows(self, address: str) -> bool:
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])  # no IPv6 zone
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_global or any(ip in net for net in self._networks)

    def refusal(self, url: str) -> str | None:
        """Why ``url`` names an address ccari may not fetch (None: its host is a name, or
        an allowed address; a name is checked when it is resolved)."""
        host = urlsplit(url).hostname or ""
        try:
            allowed = self.allows(host)
        except ValueError:
            return None  # a name
        return None if allowed else f"{host} is not a public address"


class ReachResolver(AbstractResolver):
    """The resolver of ccari's client for tenants' systems: a name's inside addresses are
    dropped, and a name with no other fails to connect (``OSError``)."""

    def __init__(self, reach: Reach) -> None:
        self._reach = reach
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if self._reach.allows(r["host"])]
        if not kept:
            raise OSError(f"{host} resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()

"""What every config section is, and the checks several share."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ccari.errors import ConfigError


class Section:
    """A table of the config file (``[pbx]``, ``[routing]``...): a frozen dataclass whose
    :meth:`check` refuses a bad value of its own keys with the key's name, at start-up."""

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first bad key; nothing to check by default."""


def loopback(host: str) -> bool:
    """``localhost`` or a loopback address (any of 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def networks(key: str, values: Iterable[str]) -> None:
    """Every value a network (CIDR, or a single address)."""
    for net in values:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"{key}: {net!r} is not a network") from None

"""When a source address is blocked: the pure core of the SIP attack guard (no I/O).

Facts in (a failure from an address at a time), decisions out (a :class:`Block`, or the
addresses whose block has ended). Time is always passed in, in seconds (``time.time()``).

* ``max_failures`` failures from one address within ``window_s`` block it for ``block_s``;
* the n-th block of an address within ``repeat_memory_s`` of its previous one lasts
  ``block_s * repeat_factor**(n-1)``, at most ``max_block_s``;
* failures from a blocked address (Asterisk keeps reporting them: FailedACL) count for
  nothing: a block is never extended by the attack it stops;
* exempt networks (the carrier's addresses, the configured allow-list) are never blocked;
* a TLS phone's credentials accepted over another transport (:func:`transport_breach`) are
  an offence that blocks its source at once (:meth:`Tracker.offence`): Asterisk 22 cannot
  bind an endpoint's inbound requests to one transport, so the phone's right password over
  plain UDP means someone else has it (or the phone is set up wrong, and talks in clear).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from ccari.agents.devices import SIP_TLS
from ccari.security.facts import RELAYED, Authenticated, Contact

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Rules:
    max_failures: int = 5
    window_s: float = 60.0
    block_s: float = 900.0
    repeat_factor: float = 2.0
    max_block_s: float = 86400.0
    repeat_memory_s: float = 86400.0
    exempt: tuple[Network, ...] = ()

    @classmethod
    def of(cls, *, exempt: Iterable[str] = (), **values: float) -> Rules:
        """Rules with ``exempt`` given as addresses or CIDR networks."""
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in exempt)
        return cls(exempt=nets, **values)  # type: ignore[arg-type]

    def is_exempt(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip.version == net.version and ip in net for net in self.exempt)

    def duration(self, offence: int) -> float:
        """How long the ``offence``-th block (1, 2...) of one address lasts."""
        longest = max(self.max_block_s, self.block_s)
        # offence is unbounded in theory: stop multiplying once the cap is reached
        length = self.block_s
        for _ in range(max(0, offence - 1)):
            length *= self.repeat_factor
            if length >= longest:
                return longest
        return min(length, longest)


@dataclass(frozen=True)
class Block:
    """``address`` refused from ``at`` until ``until`` (epoch seconds)."""

    address: str
    reason: str
    failures: int
    at: float
    until: float
    offence: int = 1


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float | None = None
    offences: int = 0
    last_block_at: float = 0.0


class Tracker:
    """The failures and blocks of every address seen (memory only; the service stores
    blocks and hands them back with :meth:`restore` after a restart)."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._records: dict[str, _Record] = {}

    def restore(self, blocks: Iterable[Block]) -> None:
        """Blocks kept from before (the active ones, and recent ended ones for repeats)."""
        for b in sorted(blocks, key=lambda b: b.at):
            r = self._records.setdefault(b.address, _Record())
            r.offences = max(r.offences, b.offence)
            r.last_block_at = max(r.last_block_at, b.at)
            r.blocked_until = b.until if r.blocked_until is None else max(r.blocked_until, b.until)

    def blocked(self, now: float) -> dict[str, float]:
        """Address -> end of its block, for every address blocked at ``now``."""
        return {a: r.blocked_until for a, r in self._records.items()
                if r.blocked_until is not None and r.blocked_until > now}

    def failure(self, address: str, reason: str, now: float) -> Block | None:
        """One failure from ``address``; the block it causes, if any."""
        r = self._count(address, now)
        if r is None or len(r.failures) < self.rules.max_failures:
            return None
        return self._block(address, r, reason, now)

    def offence(self, address: str, reason: str, now: float) -> Block | None:
        """An offence that blocks ``address`` at once (unless exempt or already blocked)."""
        r = self._count(address, now)
        return None if r is None else self._block(address, r, reason, now)

    def _count(self, address: str, now: float) -> _Record | None:
        """One more failure of ``address`` in its window; None if it is exempt or already
        blocked (a block is never extended by the attack it stops)."""
        if self.rules.is_exempt(address):
            return None
        r = self._records.setdefault(address, _Record())
        if r.blocked_until is not None and r.blocked_until > now:
            return None
        r.failures.append(now)
        while r.failures and r.failures[0] <= now - self.rules.window_s:
            r.failures.popleft()
        return r

    def _block(self, address: str, r: _Record, reason: str, now: float) -> Block:
        count = len(r.failures)
        r.failures.clear()
        if r.offences and now - r.last_block_at > self.rules.repeat_memory_s:
            r.offences = 0
        r.offences += 1
        r.last_block_at = now
        r.blocked_until = now + self.rules.duration(r.offences)
        return Block(address, reason, count, now, r.blocked_until, r.offences)

    def unblock(self, address: str) -> bool:
        """An admin lifted the block (it still counts as an offence); was it blocked?"""
        r = self._records.get(address)
        if r is None or r.blocked_until is None:
            return False
        r.blocked_until = None
        r.failures.clear()
        return True

    def expire(self, now: float) -> list[str]:
        """The addresses whose block has ended by ``now`` (each reported once); records
        with nothing left to remember are forgotten."""
        ended = []
        for address, r in list(self._records.items()):
            if r.blocked_until is not None and r.blocked_until <= now:
                r.blocked_until = None
                ended.append(address)
            while r.failures and r.failures[0] <= now - self.rules.window_s:
                r.failures.popleft()
            if (r.blocked_until is None and not r.failures
                    and (not r.offences or now - r.last_block_at > self.rules.repeat_memory_s)):
                del self._records[address]
        return ended

    def next_expiry(self) -> float | None:
        ends = [r.blocked_until for r in self._records.values() if r.blocked_until is not None]
        return min(ends) if ends else None


# --- TLS phones over another transport ---------------------------------------------------

#: The only transport a TLS phone (device ``sip-tls``) authenticates over.
TLS = "TLS"


@dataclass(frozen=True)
class Breach:
    """A TLS phone's credentials accepted over another transport (``auth``); ``block``:
    its source is blocked (not over ccari's own relay, whose address is every browser
    phone's)."""

    auth: Authenticated
    block: bool

    @property
    def reason(self) -> str:
        return f"TLS phone over {self.auth.transport} ({self.auth.account})"


def needs_device(auth: Authenticated) -> bool:
    """Whether the account's device matters: only a request that did not come over TLS."""
    return auth.transport != TLS


def transport_breach(auth: Authenticated, device: str | None) -> Breach | None:
    """The breach ``auth`` is when its account's phone is ``device``, or None."""
    if device != SIP_TLS or auth.transport == TLS:
        return None
    return Breach(auth, block=auth.transport not in RELAYED)


def registered_by(breach: Breach, contacts: Iterable[Contact]) -> list[Contact]:
    """The registrations the breaching request made (its Call-ID): the ones to remove.
    Static contacts (``@@`` in their id, from the configuration) are never among them."""
    return [c for c in contacts if c.call_id == breach.auth.call_id and ";@" in c.id]

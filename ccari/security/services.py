"""The SIP attack guard: Asterisk's security events in, blocks stored, then enforced.

* every failure event (AMI, parsed once in :mod:`ccari.security.facts`) goes to the pure
  :class:`~ccari.security.policy.Tracker`;
* a block it decides is committed to the security log first, then enforced (save, then
  enforce: a block is never only in memory): written into the PJSIP ACL, which Asterisk
  reloads, or (``security.enforce = "nftables"``) loaded into ccari's nftables table
  (:mod:`ccari.security.nft`), which drops the source's SIP packets in the kernel;
* the ACL is always rendered from the running blocks in the database: on start (a restart
  keeps them, a block that ended meanwhile is dropped), after a block, an unblock, an
  expiry; the recent blocks are read back into the policy on start for repeat offenders;
* one named task ends blocks when they expire; a reload that failed (AMI away) is retried
  by the same task until it succeeds;
* a TLS phone (device ``sip-tls``) authenticated over another transport (``SuccessfulAuth``,
  :func:`~ccari.security.policy.transport_breach`) is an attack on that account: Asterisk 22
  has no per-endpoint inbound transport, so its right password over plain UDP was accepted.
  Its source is blocked at once like a brute force (an offence, same log, ACL or nftables),
  the breach is logged at WARNING and counted (``ccari_security_breaches_total``), and the
  registration that request made is removed (:mod:`ccari.security.contacts`): the phone's
  calls are never sent to the UDP leg, which gets nothing more from the blocked address.  A
  call it places is refused by Asterisk anyway (agents' phones cannot dial: ``from-phones``
  hangs up; a plain RTP offer to an SDES-only phone gets 488), so none is hung up here.
  With ``remove_existing`` the UDP registration replaced the phone's own: the phone is back
  at its next registration refresh over TLS.  A TLS phone behind the same address (one
  NAT) is cut off with it: put such networks in ``security.allow`` (then only the
  registration is removed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents import repo as agents_repo
from ccari.ami.errors import AmiError
from ccari.ami.events import AmiEvent
from ccari.config import Config, SecurityConfig
from ccari.pbx.errors import PbxError
from ccari.security import acl, contacts, nft, repo
from ccari.security.facts import Authenticated, Failure, parse, parse_auth
from ccari.security.policy import (
    Block,
    Breach,
    Rules,
    Tracker,
    needs_device,
    registered_by,
    transport_breach,
)

log = logging.getLogger(__name__)
RETRY_S = 2.0
IDLE_S = 60.0
#: How long after a breach its registration is still looked for: Asterisk reports the
#: authentication before it stores the contact (``ContactStatus`` says when it has; both
#: have no Uniqueid, so the AMI adapter hands them over in order, one at a time).
WATCH_S = 10.0


class Reloader(Protocol):
    async def reload(self, module: str | None = None) -> None: ...


def rules_of(cfg: Config) -> Rules:
    s: SecurityConfig = cfg.security
    return Rules.of(exempt=(*cfg.pbx.carrier_match, *s.allow), max_failures=s.max_failures,
                    window_s=s.window_s, block_s=s.block_s, repeat_factor=s.repeat_factor,
                    max_block_s=s.max_block_s, repeat_memory_s=s.repeat_memory_s)


class SecurityService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cfg: Config,
                 *, clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._cfg = cfg
        self.clock = clock
        self.tracker = Tracker(rules_of(cfg))
        self._pbx: Reloader | None = None
        self._registrations: contacts.Manager | None = None
        self._watched: dict[str, list[tuple[Breach, float]]] = {}  # endpoint -> until
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._dirty = False
        self._nft_loaded = ""  # the nftables script last loaded (nftables enforcement)
        self.ready = asyncio.Event()  # blocks restored and applied once
        self.failures_total = 0
        self.blocks_total = 0
        self.apply_failures_total = 0
        self.breaches_total = 0

    # --- start ------------------------------------------------------------------------

    async def start(self, pbx: Reloader, registrations: contacts.Manager | None = None) -> None:
        """Restore the stored blocks and make Asterisk enforce exactly those; with
        ``registrations`` (AMI), a breach's registration is removed."""
        self._pbx = pbx
        self._registrations = registrations
        now = self.clock()
        async with self._sessions() as s:
            rows = await repo.since(s, now - self.tracker.rules.repeat_memory_s)
            self.tracker.restore(repo.to_block(r) for r in rows)
        self.tracker.expire(now)
        await self.apply()
        self.ready.set()
        blocked = self.tracker.blocked(now)
        if blocked:
            log.info("security: %d SIP sources still blocked: %s", len(blocked),
                     ", ".join(sorted(blocked)))

    # --- facts ------------------------------------------------------------------------

    async def on_event(self, event: AmiEvent) -> None:
        headers = {k: event.get(k) for k in ("RemoteAddress", "AccountID", "Service", "SessionID")}
        fact = parse(event.name, headers)
        if fact is not None:
            await self.on_failure(fact)
        auth = parse_auth(event.name, headers)
        if auth is not None:
            await self.on_auth(auth)

    async def on_failure(self, fact: Failure) -> Block | None:
        self.failures_total += 1
        log.debug("security: %s from %s", fact.reason, fact.address)
        return await self._decide(lambda now: self.tracker.failure(fact.address, fact.reason, now))

    async def on_auth(self, auth: Authenticated) -> Breach | None:
        """A request Asterisk authenticated: a breach if a TLS phone's came another way."""
        if not needs_device(auth):
            return None
        async with self._sessions() as s:
            device = await agents_repo.device_of(s, auth.account)
        breach = transport_breach(auth, device)
        if breach is None:
            return None
        self.breaches_total += 1
        log.warning("security: TLS phone %s authenticated over %s from %s (Call-ID %s): its "
                    "credentials are used off TLS", auth.account, auth.transport, auth.address,
                    auth.call_id)
        if breach.block:
            await self._decide(lambda now: self.tracker.offence(auth.address, breach.reason, now))
        self._watched.setdefault(auth.account, []).append((breach, self.clock() + WATCH_S))
        await self._unregister(breach)
        return breach

    async def on_contact_status(self, event: AmiEvent) -> None:
        """An endpoint's registration changed: one a breach made may have been stored."""
        now = self.clock()
        self._watched = {ep: live for ep, watched in self._watched.items()
                         if (live := [(b, until) for b, until in watched if until > now])}
        if event.get("ContactStatus") == "Removed":
            return
        for breach, _ in self._watched.get(event.get("EndpointName"), []):
            await self._unregister(breach)

    async def _unregister(self, breach: Breach) -> None:
        """Remove the registration ``breach``'s request made, if Asterisk stored it yet."""
        if self._registrations is None:
            return
        account = breach.auth.account
        try:
            found = registered_by(breach, await contacts.of_endpoint(self._registrations, account))
            if not found:
                return
            left = await contacts.remove(self._registrations, account, found)
        except AmiError as exc:
            log.warning("security: registration of %s over %s not removed: %r", account,
                        breach.auth.transport, exc)
            return
        for c in found:
            log.log(logging.ERROR if c in left else logging.WARNING,
                    "security: registration %s of TLS phone %s over %s %s", c.uri, account,
                    breach.auth.transport, "NOT removed" if c in left else "removed")

    async def _decide(self, decide: Callable[[float], Block | None]) -> Block | None:
        """Run one decision of the policy; the block it makes is stored, then enforced."""
        async with self._lock:
            block = decide(self.clock())
            if block is None:
                return None
            async with self._sessions() as s:
                repo.add(s, block)
                await s.commit()
            self.blocks_total += 1
            log.warning("security: blocked SIP source %s for %.0f s: %s (%d failures, "
                        "offence %d)", block.address, block.until - block.at, block.reason,
                        block.failures, block.offence)
            await self._apply_locked()
        self._wake.set()
        return block

    # --- admin ------------------------------------------------------------------------

    async def unblock(self, address: str, who: str) -> int:
        """Lift the running blocks of ``address`` (logged with ``who``); how many."""
        async with self._lock:
            async with self._sessions() as s:
                lifted = await repo.lift(s, address, self.clock(), who)
                await s.commit()
            self.tracker.unblock(address)
            if lifted:
                log.warning("security: %s unblocked by %s", address, who)
            await self._apply_locked()
        return lifted

    # --- enforcement ------------------------------------------------------------------

    async def apply(self) -> None:
        async with self._lock:
            await self._apply_locked()

    async def _apply_locked(self) -> None:
        if self._pbx is None:  # not started (no PBX here): start() applies what is stored
            self._dirty = True
            return
        try:
            # the database, not memory, says who is blocked (nodes sharing it and one PBX
            # agree; a block lifted by another node's admin is lifted here too)
            async with self._sessions() as s:
                rows = await repo.active(s, self.clock())
            await self._enforce([r.address for r in rows])
            self._dirty = False
        except (AmiError, PbxError, OSError) as exc:  # retried by run_expiry
            self.apply_failures_total += 1
            log.log(logging.DEBUG if self._dirty else logging.WARNING,
                    "security: blocks not enforced (retrying every %.0f s): %r", RETRY_S, exc)
            self._dirty = True

    async def _enforce(self, addresses: list[str]) -> None:
        """Make the PBX's ACL or the kernel's nftables sets say exactly ``addresses``."""
        assert self._pbx is not None
        sec = self._cfg.security
        if sec.enforce == "nftables":
            pbx = self._cfg.pbx
            ports = [pbx.sip_port, *([pbx.sip_tls_port] if pbx.sip_tls_port else [])]
            text = nft.render(addresses, ports)
            if text != self._nft_loaded or self._dirty:
                await nft.load(sec.nft_command, text)
                self._nft_loaded = text
                log.info("security: nftables table inet %s holds %d blocked SIP sources",
                         nft.TABLE, len(addresses))
            return
        text = acl.render(addresses)
        changed = await asyncio.to_thread(acl.write, acl.acl_path(self._cfg), text)
        if changed or self._dirty:
            await self._pbx.reload(acl.MODULE)
            log.info("security: Asterisk reloaded the ACL of blocked SIP sources")

    async def run_expiry(self) -> None:
        """Forever: end blocks when they expire, retry a failed reload."""
        while True:
            nxt = self.tracker.next_expiry()
            wait = IDLE_S if nxt is None else max(0.0, nxt - self.clock())
            if self._dirty:
                wait = min(wait, RETRY_S)
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            async with self._lock:
                ended = self.tracker.expire(self.clock())
                if ended:
                    log.info("security: block of %s expired", ", ".join(ended))
                if ended or self._dirty:
                    await self._apply_locked()

"""The bandwidth manager's executor: the sites' capacities (read from the database, kept
in memory), the loads of the legs ccari placed (:mod:`ccari.sites.accounting`), and the
decisions of the pure core (:mod:`ccari.sites.bandwidth`) carried out.

* :meth:`SiteBandwidth.place` (the voice ACD's ``LegPlanner``): before an agent leg is
  dialled, the media node and the codec, and the leg counted; or no room.
* :meth:`SiteBandwidth.dial` (the ``LegPlanner``'s other half): before a leg a person asked
  for is dialled (a consulted colleague or number, a conference member, a supervisor's
  phone, a transfer's outside number, an agent rung first for a callback), the same, never
  refused: counted on the site of the agent behind the phone (none for an outside number)
  and on the media node.
* :meth:`SiteBandwidth.release`: the leg's channel ended (every end: hang-up, transfer,
  no answer, a failed originate), its bandwidth is given back.
* :meth:`SiteBandwidth.reconcile`, on every ARI connect: the loads rebuilt from the live
  channels (each counted leg carries ``CCARI_LEG_MEDIA``: tenant, site and codec).
* :meth:`SiteBandwidth.has_room`: the queue's voice gate (an agent whose site has no room
  left for one more call is offered no voice); told again through ``room_changed`` each
  time a site's load or capacity changes.

Several nodes: a site's load is the legs this node counts plus those the others count
(:mod:`ccari.sites.shared`, read when they change and before a leg is placed).  With
``sites.legs_from = "least-loaded"`` an agent's leg goes out from the media node with the
lowest load among those whose ccari is alive and connected to its Asterisk (this node's
own on a tie): this node's
Asterisk then dials that node's ``ccari-peer`` endpoint (``sip:leg-<phone>@``, its key in
``X-Ccari-Peer``), whose dialplan rings the phone with the codec chosen here and passes its
ringing, answer or refusal back; the leg is counted on that node.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.ari import AriClient, ids
from ccari.ari.errors import AriError
from ccari.ari.ids import Kind
from ccari.config import SitesConfig
from ccari.errors import Conflict
from ccari.provisioning.models import AuditEntry
from ccari.sites import bandwidth, repo
from ccari.sites.accounting import Leg, Loads
from ccari.sites.bandwidth import BY_NAME, Costs, Placement, phone_codecs, phone_of
from ccari.sites.shared import Elsewhere, Peer, SharedLegs
from ccari.storage.models import Agent, Site, Tenant
from ccari.voice.ports import LegPlan, Via

log = logging.getLogger(__name__)
# "<tenant id>:<site id or ->:<codec>[:<media node, when another node's>]" on each counted leg
MEDIA_VAR = "CCARI_LEG_MEDIA"
# The kinds of channel a leg counted may be (what the reconcile looks at).
COUNTED = frozenset({Kind.AGENT_LEG, Kind.CONSULT_LEG, Kind.CONFERENCE_LEG, Kind.SUPERVISOR_LEG,
                     Kind.TRANSFER_LEG, Kind.CALLBACK_AGENT_LEG})
TRUNK_CODECS = ("ulaw", "alaw")  # what the carrier trunks allow (ccari-pjsip.conf.j2)
AVOID_S = 30.0  # no leg through a media node whose hop just failed, for this long


@dataclass(frozen=True)
class SiteLink:
    tenant_id: int
    name: str
    capacity_kbps: int | None


class SiteBandwidth:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], config: SitesConfig,
                 nodes: Sequence[str], shared: SharedLegs | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``nodes``: the media nodes (Asterisk instances) legs may go out from;
        ``shared``: the other nodes' legs (several nodes)."""
        self._sessions = sessions
        self.costs = Costs(config.ptime_ms, config.link_overhead_bytes)
        self.lower_at = config.lower_codec_at
        self.nodes = tuple(nodes)
        self.spread = config.legs_from == "least-loaded"
        self._clock = clock
        # Media nodes a leg through failed before it rang, till when (the clock's seconds).
        self._avoid: dict[str, float] = {}
        self.loads = Loads()
        self._shared = shared
        self.elsewhere = Elsewhere()  # what the other nodes count, as last read
        self._sites: dict[int, SiteLink] = {}
        # Told the sites whose room for a call may have changed (the queue's voice gate).
        self.room_changed: list[Callable[[set[int | None]], Awaitable[None]]] = []

    async def start(self) -> None:
        async with self._sessions() as s:
            for row in await repo.all_sites(s):
                self._remember(row)
        if self._shared is not None:
            self._shared.on_told(self.refresh)
            await self.refresh()

    async def refresh(self) -> None:
        """Read what the other nodes count (told they changed); the sites that changed
        are told to the routing gate."""
        before = self.elsewhere
        await self._read_elsewhere()
        await self._tell(before.changed(self.elsewhere))

    async def release_node(self, node: str) -> None:
        """A dead ccari node's legs are counted no more (by the routing leader)."""
        if self._shared is not None:
            await self._shared.release_node(node)
            await self.refresh()

    def site_load(self, site_id: int | None) -> float:
        """The kbit/s the site's calls use now, whatever node placed them."""
        return round(self.loads.site(site_id) + self.elsewhere.site(site_id), 1)

    def _remember(self, row: Site) -> SiteLink:
        link = self._sites[row.id] = _link(row)
        return link

    def _site(self, site_id: int | None) -> bandwidth.Site:
        link = self._sites.get(site_id) if site_id is not None else None
        return bandwidth.Site(link.capacity_kbps if link else None, self.lower_at)

    # ---- the routing gate --------------------------------------------------------------
    def has_room(self, agent: Agent) -> bool:
        site = self._site(agent.site_id)
        return site.capacity_kbps is None or bandwidth.has_room(
            site, self.site_load(agent.site_id), phone_codecs(agent.device), self.costs)

    async def _tell(self, site_ids: set[int | None], *, capacity_changed: bool = False) -> None:
        """Tell the listeners about the sites whose room may have changed: those with a
        capacity (an unlimited site always has room), or any whose capacity changed."""
        limited: set[int | None] = {
            i for i in site_ids
            if i is not None and (capacity_changed or self._site(i).capacity_kbps is not None)}
        if not limited:
            return
        for listener in self.room_changed:
            try:
                await listener(limited)
            except Exception:
                log.exception("sites %s: a listener of their room failed", limited)

    # ---- the voice ACD's legs ----------------------------------------------------------
    async def place(self, tenant_id: int, agent_id: int, site_id: int | None, device: str,
                    leg_id: str, *, here: bool = False) -> LegPlan | None:
        allowed = phone_codecs(device)
        await self._read_elsewhere()
        peers = {} if here else await self._peers()
        decision = bandwidth.choose(self._site(site_id), self.site_load(site_id),
                                    self._node_loads(peers), allowed, self.costs,
                                    prefer=self._own)
        if not isinstance(decision, Placement):
            log.info("leg %s: agent %s not dialled: %s (site %s at %s kbit/s)", leg_id,
                     agent_id, decision.reason, site_id, self.site_load(site_id))
            await self._tell({site_id})  # so the router stops offering her calls
            return None
        return await self._count(tenant_id, site_id, decision, allowed, leg_id,
                                 peers.get(decision.node))

    @property
    def _own(self) -> str | None:
        return self.nodes[0] if self.nodes else None

    async def _peers(self) -> dict[str, Peer]:
        """The other media nodes a leg may go out from (``legs_from = "least-loaded"``)."""
        if not self.spread or self._shared is None:
            return {}
        try:
            found = await self._shared.media_nodes()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("sites: the other media nodes not read: %s", exc)
            return {}
        now = self._clock()
        self._avoid = {n: until for n, until in self._avoid.items() if until > now}
        return {name: peer for name, peer in found.items()
                if name not in self.nodes and name not in self._avoid}

    def unreachable(self, node: str) -> None:
        """A leg through ``node``'s Asterisk failed before it rang: none goes there for
        ``AVOID_S`` (it is tried again after, as the node may have been restarting)."""
        if node not in self.nodes:
            log.warning("sites: no agent leg through media node %s for %ss", node, AVOID_S)
            self._avoid[node] = self._clock() + AVOID_S

    def _node_loads(self, peers: dict[str, Peer]) -> dict[str, float]:
        """Each media node's load: the legs every ccari node placed from it."""
        own = self.loads.nodes((*self.nodes, *peers))
        return {n: round(kbps + self.elsewhere.nodes.get(n, 0.0), 1) for n, kbps in own.items()}

    async def dial(self, tenant_id: int, endpoint: str, leg_id: str) -> LegPlan:
        """A leg a person asked for, to ``endpoint``: counted from now till its channel
        ends, with the codec its site has room for (its phone's cheapest on a full site)."""
        site_id: int | None = None
        allowed: tuple[str, ...] = TRUNK_CODECS
        phone = phone_of(endpoint)
        if phone is not None:
            async with self._sessions() as s:
                agent = await repo.agent_by_phone(s, tenant_id, phone)
            if agent is not None:
                site_id, allowed = agent.site_id, phone_codecs(agent.device)
        await self._read_elsewhere()
        decision = bandwidth.choose_asked(self._site(site_id), self.site_load(site_id),
                                          self.loads.nodes(self.nodes), allowed, self.costs)
        if not isinstance(decision, Placement):
            log.warning("leg %s to %s not counted: %s", leg_id, endpoint, decision.reason)
            return LegPlan()
        return await self._count(tenant_id, site_id, decision, allowed, leg_id)

    async def _count(self, tenant_id: int, site_id: int | None, decision: Placement,
                     allowed: Sequence[str], leg_id: str, peer: Peer | None = None) -> LegPlan:
        leg = Leg(leg_id, tenant_id, site_id, decision.node, decision.codec, decision.kbps)
        self.loads.add(leg)
        log.info("leg %s: from node %s with %s (site %s now %s kbit/s)", leg_id,
                 decision.node, decision.codec, site_id, self.site_load(site_id))
        if self._shared is not None:
            await self._shared.saved(leg)
        await self._tell({site_id})
        codec = decision.codec
        media = f"{tenant_id}:{site_id if site_id is not None else '-'}:{codec}"
        return LegPlan(
            node=decision.node,
            # Every law of the chosen cost the phone takes (G.711: both, it answers either).
            formats=tuple(c for c in allowed if c in BY_NAME
                          and self.costs.kbps(c) == decision.kbps),
            codec=codec, label=BY_NAME[codec].label, kbps=decision.kbps,
            variables={MEDIA_VAR: media if peer is None else f"{media}:{peer.name}"},
            via=None if peer is None else Via(peer.sip_uri, peer.key))

    async def release(self, leg_id: str) -> None:
        leg = self.loads.release(leg_id)
        if leg is not None:
            log.info("leg %s ended: site %s now %s kbit/s", leg_id, leg.site_id,
                     self.site_load(leg.site_id))
            if self._shared is not None:
                await self._shared.gone(leg_id)
            await self._tell({leg.site_id})

    async def reconcile(self, ari: AriClient, node: str) -> None:
        """Reconnect, then reconcile: count exactly the agent legs Asterisk still has."""
        mark = self.loads.mark()
        live: list[Leg] = []
        for channel in await ari.list_channels():
            if ids.kind_of(channel.id) not in COUNTED:
                continue
            known = self.loads.get(channel.id)
            if known is None:
                try:
                    known = self._leg_of(channel.id, await ari.get_var(channel.id, MEDIA_VAR), node)
                except AriError:
                    continue  # gone meanwhile
            if known is not None:
                live.append(known)
        changed = self.loads.rebuild(live, mark)
        log.info("sites: %d agent legs counted after the reconcile", len(self.loads))
        if self._shared is not None:
            await self._shared.replace(self.loads.legs())
        await self._tell(changed)

    async def _read_elsewhere(self) -> None:
        """The other nodes' legs as they are now (before a leg is placed, or told they
        changed; a database away: as last read)."""
        if self._shared is not None:
            try:
                self.elsewhere = await self._shared.elsewhere()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("sites: the other nodes' legs not read: %s", exc)

    def _leg_of(self, leg_id: str, value: str, node: str) -> Leg | None:
        tenant, _, rest = value.partition(":")
        site, _, rest = rest.partition(":")
        codec, _, elsewhere = rest.partition(":")
        node = elsewhere or node  # a leg going out from another node's Asterisk
        if not tenant.isdigit() or codec not in BY_NAME or not (site == "-" or site.isdigit()):
            return None  # dialled without a plan: not counted
        return Leg(leg_id, int(tenant), None if site == "-" else int(site), node, codec,
                   self.costs.kbps(codec))

    # ---- the API -----------------------------------------------------------------------
    def view(self, site_id: int, link: SiteLink) -> dict[str, Any]:
        cap = link.capacity_kbps
        return {"name": link.name, "wan_kbps": cap, "load_kbps": self.site_load(site_id),
                "calls": self.loads.site_calls(site_id) + self.elsewhere.site_calls(site_id),
                "lower_codec_above_kbps": None if cap is None else round(self.lower_at * cap, 1)}

    async def sites(self, tenant_id: int) -> list[dict[str, Any]]:
        """The tenant's sites with their capacity and their load now."""
        async with self._sessions() as s:
            rows = await repo.of_tenant(s, tenant_id)
        return [self.view(row.id, self._remember(row)) for row in rows]

    async def set_capacity(self, tenant_id: int, name: str, kbps: int | None,
                           actor: str) -> dict[str, Any]:
        """Set (or create the site with) its WAN capacity; audited like provisioning."""
        async with self._sessions() as s:
            tenant = await s.get(Tenant, tenant_id)
            assert tenant is not None
            row = await repo.by_name(s, tenant_id, name)
            before = None if row is None else self.view(row.id, _link(row))
            if row is None:
                row = Site(tenant_id=tenant_id, name=name)
                s.add(row)
            row.wan_kbps = kbps
            try:  # the same new site named twice at once: one wins
                await s.flush()
                after = self.view(row.id, _link(row))
                s.add(AuditEntry(actor=actor, tenant_id=tenant_id, tenant=tenant.slug,
                                 kind="site", key=name[:100],
                                 action="create" if before is None else "update",
                                 before=_setting(before), after=_setting(after)))
                await s.commit()
            except IntegrityError:
                raise Conflict("the site was created meanwhile: send it again",
                               error_id="site-changed") from None
        self._remember(row)
        log.info("site %s of tenant %s: capacity %s kbit/s", name, tenant.slug, kbps)
        await self._tell({row.id}, capacity_changed=True)
        return after


def _link(row: Site) -> SiteLink:
    return SiteLink(row.tenant_id, row.name, row.wan_kbps)


def _setting(view: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the audit log keeps of a site: its setting, not its passing load."""
    return None if view is None else {"name": view["name"], "wan_kbps": view["wan_kbps"]}

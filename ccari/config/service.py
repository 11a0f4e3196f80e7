"""The config sections of the service: its database, web listeners, routing, e-mail, the SIP
guard, the wallboard, the CRM import and the cluster with its SIP edge.  Each section checks
its own keys (:meth:`Section.check`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ccari.config.section import Section, networks
from ccari.errors import ConfigError

_EDGE_LISTEN = re.compile(r"^udp:[0-9.]+:[0-9]{1,5}$")
_EDGE_RPC = re.compile(r"^http://[0-9.]+:[0-9]{1,5}/[A-Za-z0-9/_-]*$")
EDGE_RPC_KEY = re.compile(r"^[A-Za-z0-9_-]{16,}$")
_EDGE_DESTINATION = re.compile(r"^sip:[A-Za-z0-9.\-]+:[0-9]{1,5}$")


@dataclass(frozen=True)
class DatabaseConfig(Section):
    # SQLite by default (ccari.db in the state directory: left at this value, the path
    # follows state_dir); postgresql+asyncpg://user:pass@host/db when nodes share state.
    url: str = "sqlite+aiosqlite:///var/ccari.db"
    echo: bool = False
    # SQLite: a write waits this long for a lock held by another process, then fails.
    busy_timeout_s: float = 15.0
    # While the database is unreachable, HTTP requests that need it get 503
    # database-unavailable with this Retry-After (seconds).
    retry_after_s: int = 5

    def check(self) -> None:
        if not self.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ConfigError("database.url must use sqlite+aiosqlite or postgresql+asyncpg")
        if not (self.busy_timeout_s > 0 and self.retry_after_s > 0):
            raise ConfigError("database.busy_timeout_s and database.retry_after_s must be positive")


@dataclass(frozen=True)
class WebConfig(Section):
    # The internal side (agents, supervisors, admin API) stays behind the firewall.
    internal_host: str = "127.0.0.1"
    internal_port: int = 8080
    # The public side (customer widget, chat, help requests) may be exposed.
    public_host: str = "127.0.0.1"
    public_port: int = 8081
    # Signs agent session cookies and CSRF tokens; generated into var/ when empty.
    secret_key: str = ""
    session_max_age_s: int = 12 * 3600
    # Where the pages are reached from (used in the demo manifest and for Origin checks).
    public_base_url: str = ""
    internal_base_url: str = ""
    # HTTPS on both listeners: a PEM certificate (with its chain) and its unencrypted key.
    # Then plain HTTP on those ports fails, every answer carries Strict-Transport-Security
    # and every cookie is Secure.  Empty: plain HTTP (on loopback, or behind a proxy that
    # terminates TLS).
    tls_cert: str = ""
    tls_key: str = ""

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def check(self) -> None:
        for name in ("internal_port", "public_port"):
            port = getattr(self, name)
            if not 0 <= port < 65536:
                raise ConfigError(f"web.{name}: {port} is not a port")
        if self.internal_port and self.internal_port == self.public_port:
            raise ConfigError("web.internal_port and web.public_port must differ")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("web.tls_cert and web.tls_key: both or neither")


@dataclass(frozen=True)
class RoutingConfig(Section):
    # An offer on the agent page (chat, email, voicemail) not accepted within this lapses:
    # a missed offer, like a phone that rings out (voice: each queue's ring timeout).
    accept_timeout_s: float = 30.0
    # A missed offer of any medium makes the agent not ready ("missed offer") and keeps
    # that contact from that agent for this long (others may take it at once), so the
    # agent, ready again, gets the other work waiting first.
    missed_offer_delay_s: float = 60.0
    # An offer the agent refused is not offered to them again for this long.
    reoffer_delay_s: float = 10.0
    # Fair blending: once a call has waited this long, the agents who could take it and
    # also take chats or e-mails (voice alone, the rest together) get no new chats or e-mails
    # until it is placed, so a stream of chats cannot starve it. 0 = off. Each tenant may
    # set its own (PUT /api/tenants/{tenant}/routing); this is the default.
    blend_hold_s: float = 30.0

    def check(self) -> None:
        if self.accept_timeout_s <= 0:
            raise ConfigError("routing.accept_timeout_s must be positive")
        if self.missed_offer_delay_s < 0 or self.reoffer_delay_s < 0:
            raise ConfigError("routing.missed_offer_delay_s and reoffer_delay_s must not be negative")
        if not 0 <= self.blend_hold_s <= 86400:
            raise ConfigError("routing.blend_hold_s: 0 (off) to 86400 seconds")


@dataclass(frozen=True)
class SmtpConfig(Section):
    # Intake: ccari's own SMTP server for the tenants' support addresses (0 = off).
    intake_host: str = "127.0.0.1"
    intake_port: int = 2525
    # Relay: where agents' replies, acknowledgements and transcripts are sent.
    relay_host: str = "127.0.0.1"
    relay_port: int = 25
    relay_user: str = ""
    relay_password: str = ""
    relay_starttls: bool = False
    from_address: str = "support@ccari.invalid"
    timeout_s: float = 10.0


@dataclass(frozen=True)
class SecurityConfig(Section):
    # SIP attacks: Asterisk's security events (AMI) from one source address; this many
    # failures (bad password, unknown account, bad request...) within window_s block the
    # address in Asterisk (a PJSIP ACL) for block_s.  Each further block of the same
    # address within repeat_memory_s lasts repeat_factor times longer, up to max_block_s.
    enabled: bool = True
    max_failures: int = 5
    window_s: float = 60.0
    block_s: float = 900.0
    repeat_factor: float = 2.0
    max_block_s: float = 86400.0
    repeat_memory_s: float = 86400.0
    # Networks never blocked (CIDR, e.g. "10.0.0.0/8"); the carrier's pbx.carrier_match
    # addresses never are either.
    allow: tuple[str, ...] = ()
    # Where a block is enforced: "asterisk-acl" (a PJSIP ACL Asterisk reloads; no privilege
    # needed) or "nftables" (ccari's own `inet ccari` table drops the source's SIP packets
    # in the kernel; ccari needs CAP_NET_ADMIN). nft_command runs nft (e.g. under sudo or
    # "ip netns exec NAME nft"), with an argument list, never a shell.
    enforce: str = "asterisk-acl"
    nft_command: tuple[str, ...] = ("nft",)

    def check(self) -> None:
        if self.max_failures < 1 or self.window_s <= 0 or self.block_s <= 0:
            raise ConfigError("security.max_failures, window_s and block_s must be positive")
        if self.repeat_factor < 1 or self.max_block_s < self.block_s or self.repeat_memory_s < 0:
            raise ConfigError("security.repeat_factor must be >= 1, max_block_s >= block_s, "
                              "repeat_memory_s >= 0")
        networks("security.allow", self.allow)
        if self.enforce not in ("asterisk-acl", "nftables"):
            raise ConfigError("security.enforce is 'asterisk-acl' or 'nftables'")
        if not self.nft_command:
            raise ConfigError("security.nft_command names the nft program")


@dataclass(frozen=True)
class WallboardConfig(Section):
    # Service level: % of the queue's outcomes answered within this many seconds (each
    # tenant may set its own: PUT /supervisor/api/wallboard/settings).
    service_level_s: float = 20.0
    # The sliding window of the figures (the other period is since midnight).
    window_s: float = 900.0
    # How often the open wallboards get new figures.
    push_every_s: float = 1.0
    # Midnight of a tenant without business hours (theirs carry a time zone) is in this zone.
    time_zone: str = "UTC"

    def check(self) -> None:
        if not 0 < self.service_level_s <= 3600 or self.window_s < 60 or \
                not 0.1 <= self.push_every_s <= 60:
            raise ConfigError("wallboard.service_level_s: 0 to 3600 s, window_s at least 60 s, "
                              "push_every_s 0.1 to 60 s")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"wallboard.time_zone: {self.time_zone!r} is not an IANA time zone") from None


@dataclass(frozen=True)
class CrmConfig(Section):
    # The largest customers CSV ``POST /api/customers/import`` takes (413 csv-too-large).
    import_max_bytes: int = 8 * 1024 * 1024
    # Networks (CIDR) where a tenant's entitlement lookup may reach its system although they
    # are not public, e.g. ["10.20.0.0/16"] for a CRM on the LAN, ["127.0.0.1/32"] for one on
    # this host; any other inside address (loopback, private, link-local, such as the cloud
    # metadata service) is refused to the tenants' URLs.
    lookup_networks: tuple[str, ...] = ()

    def check(self) -> None:
        if self.import_max_bytes < 1:
            raise ConfigError("crm.import_max_bytes: at least 1")
        networks("crm.lookup_networks", self.lookup_networks)


@dataclass(frozen=True)
class ClusterConfig(Section):
    """Several ccari nodes on one PostgreSQL database (ccari.cluster)."""

    # On: the nodes tell each other through PostgreSQL LISTEN/NOTIFY and one of them, the
    # holder of an advisory lock, routes.  Needs a postgresql database URL and a distinct
    # ``node`` name per node.  Off: one node, everything in-process.
    enabled: bool = False
    # Most seconds between two attempts to reconnect the listening connection.
    reconnect_max_s: float = 5.0
    # How often a follower tries to take the routing leadership, and the leader checks
    # that its lock's connection is alive (seconds).
    leader_check_s: float = 1.0
    # A node whose listening connection has been gone this long is dead (killed, its host
    # lost): the leader forgets its agent pages, withdraws what it offered to them (no miss
    # counted) and shows their agents logged out until a page of theirs opens again.
    node_timeout_s: float = 10.0
    # The Asterisk nodes whose waiting callers this node takes over when their ccari node
    # dies and they live on: ``<node>=http://<ari user>:<ari password>@<host>:<ari port>``
    # (that Asterisk's ARI, reachable from here: its http.conf bindaddr on the nodes'
    # private network).  The routing leader moves each waiting caller from there to its
    # own Asterisk through the dialplan (a SIP call between the two, keeping her place in
    # the queue).  A node not listed here has its waiting callers closed and called back.
    standby_ari: tuple[str, ...] = ()
    # Seconds the leader gives one caller's move (a queue announcement she is hearing ends
    # first) before it closes her call instead.
    adopt_timeout_s: float = 10.0

    def check(self) -> None:
        if not (self.reconnect_max_s > 0 and self.leader_check_s > 0):
            raise ConfigError("cluster.reconnect_max_s and cluster.leader_check_s must be positive")
        if not self.node_timeout_s > self.reconnect_max_s:
            raise ConfigError("cluster.node_timeout_s must be above cluster.reconnect_max_s "
                              "(a node reconnecting its listener is not dead)")


@dataclass(frozen=True)
class EdgeConfig(Section):
    """The SIP edge (ccari.edge): Kamailio's dispatcher spreading carrier calls over the
    Asterisk nodes by relative weight, the weights kept by the routing leader."""

    # On: a node that carries calls registers its Asterisk as a destination at start, and
    # the routing leader keeps every destination's weight.  Needs a postgresql database.url
    # (Kamailio reads its destinations there).
    enabled: bool = False
    # Where Kamailio takes the carrier's calls (udp:<ip>:<port>); it sends to the Asterisk
    # nodes from this address too, so its IP must be in every node's pbx.carrier_match.
    listen: str = "udp:127.0.0.2:5080"
    # The carriers' addresses (CIDR): a new call from anywhere else is refused (403) at the
    # edge, since every node takes what comes from the edge as the carrier's.
    carriers: tuple[str, ...] = ("127.0.0.0/8",)
    # Kamailio's JSON-RPC (xhttp on a TCP port of its own: loopback, or an address only the
    # ccari nodes reach: the routing leader, any node, calls it).
    rpc_url: str = "http://127.0.0.1:5081/RPC"
    # The only addresses (CIDR) Kamailio takes JSON-RPC requests from (403 for any other):
    # the ccari nodes' (any node may lead and call it).
    rpc_clients: tuple[str, ...] = ("127.0.0.0/8",)
    # The secret every request to that RPC carries ("Authorization: Bearer <key>"; without
    # it, 401): the same on every node and in kamailio.cfg (``ccari edge render`` writes it
    # there).  Needed when the edge is on: at least 16 letters, digits, "-" or "_".
    rpc_key: str = ""
    # How Kamailio, and the other nodes handing callers over, reach this node's Asterisk
    # (sip:<host>:<port>); empty: sip:<pbx.host>:<pbx.sip_port> (all on the same box).
    destination: str = ""
    # Every destination is sent OPTIONS this often (seconds); one that does not answer
    # within timeout_ms is used no more until it answers again (inactive within about
    # twice probe_s).  A new call a node does not answer within timeout_ms goes to the next.
    probe_s: int = 2
    timeout_ms: int = 1000
    # How often the routing leader recomputes the weights from the calls each node carries.
    update_s: float = 2.0
    # The calls this node's Asterisk takes at most (registered with its destination): a
    # node carrying none gets weight 100, a full one weight 1.
    node_capacity: int = 30
    # The agents' SIP phones register at the edge (Kamailio is their registrar, checking
    # the same SIP password Asterisk has), once for every node: each node's Asterisk rings
    # such a phone through the edge.  Plain SIP phones without a fixed contact only; TLS and
    # browser phones keep registering at their node.  Failed registrations from one address
    # are blocked as Asterisk's are ([security] max_failures, window_s, block_s).
    phones: bool = False

    def check(self) -> None:
        if not _EDGE_LISTEN.match(self.listen):
            raise ConfigError("edge.listen must be udp:<ip>:<port>")
        if not _EDGE_RPC.match(self.rpc_url):
            raise ConfigError("edge.rpc_url must be http://<ip>:<port>/<path>")
        networks("edge.carriers", self.carriers)
        networks("edge.rpc_clients", self.rpc_clients)
        if not self.rpc_clients:
            raise ConfigError("edge.rpc_clients: at least one network (the ccari nodes')")
        if (self.enabled or self.rpc_key) and not EDGE_RPC_KEY.match(self.rpc_key):
            raise ConfigError(
                "edge.rpc_key: at least 16 letters, digits, '-' or '_', the same on every node"
                " (one: python3 -c 'import secrets; print(secrets.token_urlsafe(24))')")
        if not self.carriers:
            raise ConfigError("edge.carriers: at least one network (the carriers' addresses)")
        if self.destination and not _EDGE_DESTINATION.match(self.destination):
            raise ConfigError("edge.destination must be sip:<host>:<port>")
        if not 1 <= self.probe_s <= 60 or not 100 <= self.timeout_ms < 1000 * self.probe_s:
            raise ConfigError("edge.probe_s: 1 to 60 s; edge.timeout_ms: 100 ms to below probe_s")
        if self.update_s <= 0 or self.node_capacity < 1:
            raise ConfigError("edge.update_s must be positive, edge.node_capacity at least 1")
        if self.phones and not self.enabled:
            raise ConfigError("edge.phones needs edge.enabled (the edge is their registrar)")

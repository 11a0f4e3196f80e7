"""Typed configuration: defaults in code, one TOML file, environment overrides.

Precedence (lowest first): the defaults below, the file named by ``CCARI_CONFIG`` (or
``--config``), then environment variables ``CCARI_<SECTION>_<KEY>`` (e.g.
``CCARI_WEB_INTERNAL_PORT=9000``).  ``ccari.sample.toml`` at the repo root documents every
key.  :func:`load` validates everything at start-up and raises :class:`ConfigError` with the
offending key, so a typo never surfaces as a failure in the middle of a call.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccari.errors import ConfigError

_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class DatabaseConfig:
    # SQLite by default (ccari.db in the state directory: left at this value, the path
    # follows state_dir); postgresql+asyncpg://user:pass@host/db when nodes share state.
    url: str = "sqlite+aiosqlite:///var/ccari.db"
    echo: bool = False
    # SQLite: a write waits this long for a lock held by another process, then fails.
    busy_timeout_s: float = 15.0
    # While the database is unreachable, HTTP requests that need it get 503
    # database-unavailable with this Retry-After (seconds).
    retry_after_s: int = 5


@dataclass(frozen=True)
class WebConfig:
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


@dataclass(frozen=True)
class PbxConfig:
    # "managed": ccari provisions and runs Asterisk itself (sid root or distro package).
    # "external": an admin's Asterisk; ccari renders config into render_dir and connects.
    mode: str = "managed"
    instance: str = "demo"
    app_name: str = "ccari-demo"
    host: str = "127.0.0.1"
    sip_port: int = 5060
    ari_port: int = 8088
    ami_port: int = 5038
    rtp_start: int = 10000
    rtp_end: int = 20000
    render_dir: str = ""
    ari_user: str = ""
    ari_password: str = ""
    ami_user: str = ""
    ami_secret: str = ""
    # Source addresses identifying the carrier trunk (PJSIP identify).
    carrier_match: tuple[str, ...] = ("127.0.0.2",)
    request_timeout_s: float = 5.0
    # Dead calls: a carrier call with no RTP from the carrier for this long (and no BYE) is
    # hung up by Asterisk (rtp_timeout; session timers too); 0 turns both off.  A page in a
    # browser (an agent's phone, a customer's call from the widget) that stops answering its
    # SIP websocket's pings is lost within this time (20 s pings when 0), its call ended.
    dead_call_s: int = 60
    # Agent phones are sent SIP OPTIONS this often (qualify); an unreachable phone is not
    # offered calls.  0 turns qualify off (phones then count as reachable).
    agent_qualify_s: int = 30
    # SIP over TLS for agents' phones (device "sip-tls": signalling over TLS, media SRTP with
    # SDES keys): a TLS transport on this port (0: none) with this PEM certificate and
    # unencrypted key, copied into Asterisk's configuration.  Carriers stay on UDP.
    sip_tls_port: int = 0
    sip_tls_cert: str = ""
    sip_tls_key: str = ""


@dataclass(frozen=True)
class VoiceConfig:
    moh_class: str = "default"
    sound_prefix: str = "ccari/"
    ring_timeout_s: int = 15
    # How long a transferred or consulted party (a colleague's phone dialled directly, an
    # outside number) rings before the transfer or consult counts as not answered.
    transfer_ring_s: int = 30
    # Parties of one call's conference, the customer and the agent included.
    conference_max_parties: int = 6
    wrap_up_s: float = 5.0
    announce_every_s: float = 30.0
    ivr_timeout_s: float = 5.0
    ivr_max_tries: int = 3
    # Overflow voicemail (a caller over the tenant's trunk limit leaves a message).
    voicemail_max_s: int = 120
    voicemail_max_silence_s: int = 10
    # Call recording (ccari.recording): how often the retention task deletes the recordings
    # past their tenant's retention_days.
    recording_retention_every_s: float = 3600.0
    # Overload control: while the hot path's delay (calls waiting to be answered, writes
    # waiting for their commit, event-loop lag) is above this many ms, a shrinking share of
    # new calls is admitted; the others get the tenant's announcement, else SIP 503, at
    # once.  The share grows back below 40% of it.  0 turns it off.
    overload_delay_ms: float = 350.0
    # The codes an agent closes a call's wrap-up with: a plain code is every tenant's,
    # "<tenant slug>:<code>" only that tenant's.
    disposition_codes: tuple[str, ...] = ("resolved", "follow-up", "escalated", "no-action")

    def dispositions_of(self, tenant_slug: str,
                        own: Sequence[str] | None = None) -> tuple[str, ...]:
        """The wrap-up codes of one tenant: its own (set by provisioning), else these."""
        if own is not None:
            return tuple(own)
        out = []
        for entry in self.disposition_codes:
            slug, _, code = entry.rpartition(":")
            if not slug or slug == tenant_slug:
                out.append(code)
        return tuple(out)


@dataclass(frozen=True)
class RoutingConfig:
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


@dataclass(frozen=True)
class SmtpConfig:
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
class CallbacksConfig:
    # Node settings of the callbacks context; per-tenant choices (mode, retries, allow-list)
    # live in the database (ccari.callbacks.models.CallbackSettings).
    # Where outbound calls go: "host:port" of the carrier, dialled as
    # PJSIP/<trunk>/sip:<E.164 digits>@<carrier_outbound>.  Empty: the first address of
    # pbx.carrier_match, port 5060.
    carrier_outbound: str = ""
    trunk: str = "carrier"
    # Customer first: how long to wait for "1" after the prompt, and how often to play it.
    confirm_timeout_s: float = 6.0
    prompt_plays: int = 2
    # Trunk admission said "defer": try again after this long (not counted as a try).
    defer_s: float = 20.0
    # An attempt not answered by ring timeout + this is checked against Asterisk.
    check_grace_s: float = 10.0
    # IVR "call me back": the first call comes when the caller's place in the queue comes
    # up, not before ivr_gap_s after they hung up, and at the latest ivr_hold_s after asking.
    ivr_gap_s: float = 10.0
    ivr_hold_s: float = 120.0
    # A caller lost with the Asterisk carrying the call while waiting for an agent: the
    # callback (when the tenant's after_lost_call allows it) is first tried this long after.
    lost_call_delay_s: float = 60.0
    # How far ahead a customer may ask to be called.
    max_ahead_s: float = 14 * 86400.0
    # Rate limits of requests that would dial out: burst, then one every N seconds.
    ip_burst: int = 5
    ip_every_s: float = 60.0
    number_burst: int = 3
    number_every_s: float = 600.0
    tenant_burst: int = 60
    tenant_every_s: float = 2.0
    sound_offer: str = "callback-offer"
    sound_confirm: str = "callback-confirm"
    sound_refused: str = "callback-refused"

    def outbound_host(self, pbx: PbxConfig) -> str:
        if self.carrier_outbound:
            return self.carrier_outbound
        match = pbx.carrier_match
        return f"{match[0] if match else '127.0.0.2'}:5060"


@dataclass(frozen=True)
class FaxConfig:
    # Where Asterisk writes received faxes' TIFFs, as Asterisk sees it and as ccari sees it
    # (the same directory).  Empty: the managed instance's spool/fax.  ccari keeps each one
    # under <state_dir>/fax and removes it from there.
    asterisk_spool: str = ""
    spool: str = ""
    # How a fax to send is dialled: {trunk} and {host} as for callbacks (callbacks.trunk,
    # callbacks.carrier_outbound), {digits} the E.164 number without '+'.
    dial: str = "PJSIP/{trunk}/sip:{digits}@{host}"
    # A send whose attempt found the line busy, unanswered or congested (nothing sent) is
    # dialled again by itself up to this many times, retry_after_s apart.
    retries: int = 2
    retry_after_s: float = 300.0
    # Fax tones on a voice number (where the tenant turns it on: PUT /api/faxes/settings):
    # Asterisk listens for a fax machine's CNG (or its T.38 re-INVITE) this many seconds after
    # the answer, while the caller hears the number's usual greeting; a fax found goes to the
    # fax path.
    detect_s: float = 8.0


@dataclass(frozen=True)
class SecurityConfig:
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


@dataclass(frozen=True)
class WallboardConfig:
    # Service level: % of the queue's outcomes answered within this many seconds (each
    # tenant may set its own: PUT /supervisor/api/wallboard/settings).
    service_level_s: float = 20.0
    # The sliding window of the figures (the other period is since midnight).
    window_s: float = 900.0
    # How often the open wallboards get new figures.
    push_every_s: float = 1.0
    # Midnight of a tenant without business hours (theirs carry a time zone) is in this zone.
    time_zone: str = "UTC"


@dataclass(frozen=True)
class SpeechConfig:
    """Spoken answers in the IVR (the words come from the menus' option labels).  Off by
    default: on 8 kHz telephone audio the bundled 16 kHz English model still mistakes
    too many other words for menu words (see ccari/speech/recognizer.py)."""

    enabled: bool = False
    # ccari's address as Asterisk reaches it: the caller's audio comes there as RTP.
    media_host: str = "127.0.0.1"
    # Below this confidence (0..1) an utterance is not taken: the menu asks again.
    min_confidence: float = 0.45
    # An utterance longer than this is cut and recognised as it is.
    max_utterance_s: float = 4.0
    # How long setting up the audio path may take before the menu goes on with digits only.
    setup_timeout_s: float = 2.0


@dataclass(frozen=True)
class SitesConfig:
    """Agent sites' WAN links (ccari.sites): what a call costs, when its codec is lowered."""

    # Above this share of a site's capacity the next agent leg gets a lower codec (GSM).
    lower_codec_at: float = 0.8
    # RTP packet time of the agents' legs (ms): 50 packets a second at 20 ms.
    ptime_ms: int = 20
    # Link-layer bytes per packet on the sites' links (Ethernet II header + FCS: 18).
    link_overhead_bytes: int = 18
    # Where an agent's leg goes out from with several nodes: "own" (the Asterisk carrying
    # the caller) or "least-loaded" (the media node with the lowest load, through the
    # caller's Asterisk: its own on a tie).
    legs_from: str = "own"


@dataclass(frozen=True)
class PromptsConfig:
    # Tenants' own prompts (uploaded audio or spoken text, ccari.provisioning.prompts) are
    # written as <dir>/<tenant id>/<name>.wav, and Asterisk plays them as
    # sound:<sound_prefix><tenant id>/<name>: dir must be <Asterisk's sounds dir>/<sound_prefix>.
    # Empty (both): the managed instance's <sounds>/ccari-tenants/<pbx.instance>/.
    dir: str = ""
    sound_prefix: str = ""
    max_bytes: int = 4 * 1024 * 1024  # an upload (WAV, MP3 or Ogg)
    max_seconds: float = 120.0  # a prompt once converted
    # What a text prompt sounds like (espeak-ng -v/-s/-p), as sounds/make.sh makes ccari's own.
    voice: str = "en-us"
    speed: int = 150
    pitch: int = 45


@dataclass(frozen=True)
class CrmConfig:
    # The largest customers CSV ``POST /api/customers/import`` takes (413 csv-too-large).
    import_max_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True)
class ClusterConfig:
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


@dataclass(frozen=True)
class EdgeConfig:
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
    # Kamailio's JSON-RPC (xhttp on a TCP port of its own, without authentication: loopback,
    # or an address only the ccari nodes reach: the routing leader, any node, calls it).
    rpc_url: str = "http://127.0.0.1:5081/RPC"
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


@dataclass(frozen=True)
class Config:
    state_dir: str = "var"
    log_level: str = "INFO"
    # "text", or "json": one JSON object a line, with the contact id on a contact's lines.
    log_format: str = "text"
    node: str = "node1"
    admin_token: str = ""
    # How often a running ccari looks for tenants deleted elsewhere (``ccari admin tenants
    # delete``, another node) to forget what it holds of them (ccari.tenants.cleanup).
    tenants_check_s: float = 10.0
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    web: WebConfig = field(default_factory=WebConfig)
    pbx: PbxConfig = field(default_factory=PbxConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    wallboard: WallboardConfig = field(default_factory=WallboardConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    fax: FaxConfig = field(default_factory=FaxConfig)
    sites: SitesConfig = field(default_factory=SitesConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    crm: CrmConfig = field(default_factory=CrmConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    @property
    def media_uri(self) -> str:
        """How the SIP edge and the other nodes reach this node's Asterisk (sip:<host>:<port>)."""
        return self.edge.destination or f"sip:{self.pbx.host}:{self.pbx.sip_port}"

    @property
    def phone_registrar(self) -> str:
        """Where an agent's plain SIP phone registers: the SIP edge when it is their
        registrar, else this node's Asterisk."""
        if self.edge.enabled and self.edge.phones:
            return "sip:" + self.edge.listen.removeprefix("udp:")
        return f"sip:{self.pbx.host}:{self.pbx.sip_port}"


def _coerce(value: Any, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list")
        return tuple(str(v) for v in value)
    if origin in (types.UnionType, typing.Union):
        return value
    if typ is bool:
        if isinstance(value, str):
            if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ConfigError(f"{key}: expected a boolean, got {value!r}")
            return value.lower() in {"1", "true", "yes"}
        return bool(value)
    if typ in (int, float, str):
        try:
            return typ(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected {typ.__name__}, got {value!r}") from None
    return value


def _build(cls: type, data: dict[str, Any], env: dict[str, str], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(cls)}
    for name in data:
        if name not in known:
            raise ConfigError(f"unknown config key {prefix}{name}")
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        key = f"{prefix}{f.name}"
        if isinstance(typ, type) and dataclasses.is_dataclass(typ):
            sub = data.get(f.name, {})
            if not isinstance(sub, dict):
                raise ConfigError(f"{key}: expected a table")
            kwargs[f.name] = _build(typ, sub, env, f"{key}.")
            continue
        env_key = "CCARI_" + key.replace(".", "_").upper()
        if env_key in env:
            kwargs[f.name] = _coerce(env[env_key], typ, key)
        elif f.name in data:
            kwargs[f.name] = _coerce(data[f.name], typ, key)
    return cls(**kwargs)


def load(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    path = path or env.get("CCARI_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    cfg: Config = _build(Config, data, env, "")
    if cfg.database.url == sqlite_in(Config.state_dir):  # the default follows the state dir
        cfg = dataclasses.replace(cfg, database=dataclasses.replace(
            cfg.database, url=sqlite_in(cfg.state_dir)))
    validate(cfg)
    return cfg


def sqlite_in(state_dir: str) -> str:
    """The URL of the SQLite database ``ccari.db`` in ``state_dir``."""
    return f"sqlite+aiosqlite:///{Path(state_dir) / 'ccari.db'}"


def validate(cfg: Config) -> None:
    if cfg.log_format not in ("text", "json"):
        raise ConfigError("log_format must be 'text' or 'json'")
    if cfg.cluster.enabled and not cfg.database.url.startswith("postgresql"):
        raise ConfigError("cluster.enabled needs a postgresql database.url")
    if not (cfg.cluster.reconnect_max_s > 0 and cfg.cluster.leader_check_s > 0):
        raise ConfigError("cluster.reconnect_max_s and cluster.leader_check_s must be positive")
    if not cfg.cluster.node_timeout_s > cfg.cluster.reconnect_max_s:
        raise ConfigError("cluster.node_timeout_s must be above cluster.reconnect_max_s "
                          "(a node reconnecting its listener is not dead)")
    for name in ("internal_port", "public_port"):
        port = getattr(cfg.web, name)
        if not 0 <= port < 65536:
            raise ConfigError(f"web.{name}: {port} is not a port")
    if not (cfg.database.busy_timeout_s > 0 and cfg.database.retry_after_s > 0):
        raise ConfigError("database.busy_timeout_s and database.retry_after_s must be positive")
    if cfg.web.internal_port and cfg.web.internal_port == cfg.web.public_port:
        raise ConfigError("web.internal_port and web.public_port must differ")
    if bool(cfg.web.tls_cert) != bool(cfg.web.tls_key):
        raise ConfigError("web.tls_cert and web.tls_key: both or neither")
    p = cfg.pbx
    if not 0 <= p.sip_tls_port < 65536:
        raise ConfigError(f"pbx.sip_tls_port: {p.sip_tls_port} is not a port")
    if not bool(p.sip_tls_port) == bool(p.sip_tls_cert) == bool(p.sip_tls_key):
        raise ConfigError("pbx.sip_tls_port, pbx.sip_tls_cert and pbx.sip_tls_key: all or none")
    if cfg.pbx.mode not in {"managed", "external"}:
        raise ConfigError("pbx.mode must be 'managed' or 'external'")
    if cfg.pbx.rtp_end <= cfg.pbx.rtp_start:
        raise ConfigError("pbx.rtp_end must be above pbx.rtp_start")
    if cfg.pbx.dead_call_s != 0 and not 2 <= cfg.pbx.dead_call_s <= 86400:
        raise ConfigError("pbx.dead_call_s: 0 (off) or 2 to 86400 seconds")
    if not 0 <= cfg.pbx.agent_qualify_s <= 86400:
        raise ConfigError("pbx.agent_qualify_s: 0 (off) to 86400 seconds")
    if not 0 <= cfg.fax.retries <= 10:
        raise ConfigError("fax.retries must be from 0 to 10")
    if not cfg.fax.retry_after_s > 0:
        raise ConfigError("fax.retry_after_s must be more than 0")
    if not 1 <= cfg.fax.detect_s <= 60:
        raise ConfigError("fax.detect_s: 1 to 60 seconds")
    if bool(cfg.prompts.dir) != bool(cfg.prompts.sound_prefix):
        raise ConfigError("prompts.dir and prompts.sound_prefix: both or neither")
    if bool(cfg.fax.spool) != bool(cfg.fax.asterisk_spool):
        raise ConfigError("fax.spool and fax.asterisk_spool: both or neither")
    if not _loopback(cfg.pbx.host):
        raise ConfigError("pbx.host: ARI and AMI are only reached on loopback")
    if not cfg.database.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError("database.url must use sqlite+aiosqlite or postgresql+asyncpg")
    if not 1 <= cfg.voice.transfer_ring_s <= 600:
        raise ConfigError("voice.transfer_ring_s: 1 to 600 seconds")
    if not 3 <= cfg.voice.conference_max_parties <= 32:
        raise ConfigError("voice.conference_max_parties: 3 to 32")
    if cfg.crm.import_max_bytes < 1:
        raise ConfigError("crm.import_max_bytes: at least 1")
    _validate_callbacks(cfg.callbacks)
    _validate_edge(cfg.edge, cfg.database.url)
    _validate_security(cfg.security)
    _validate_wallboard(cfg.wallboard)
    st = cfg.sites
    if not 0 < st.lower_codec_at <= 1 or not 10 <= st.ptime_ms <= 60 or \
            not 0 <= st.link_overhead_bytes <= 100:
        raise ConfigError("sites.lower_codec_at: above 0 up to 1; sites.ptime_ms: 10 to 60; "
                          "sites.link_overhead_bytes: 0 to 100")
    if st.legs_from not in ("own", "least-loaded"):
        raise ConfigError('sites.legs_from: "own" or "least-loaded"')
    sp = cfg.speech
    if not 0 <= sp.min_confidence <= 1 or sp.max_utterance_s <= 0 or sp.setup_timeout_s <= 0:
        raise ConfigError("speech.min_confidence: 0 to 1; speech.max_utterance_s and "
                          "speech.setup_timeout_s: positive")
    r = cfg.routing
    if r.accept_timeout_s <= 0:
        raise ConfigError("routing.accept_timeout_s must be positive")
    if r.missed_offer_delay_s < 0 or r.reoffer_delay_s < 0:
        raise ConfigError("routing.missed_offer_delay_s and reoffer_delay_s must not be negative")
    if not 0 <= r.blend_hold_s <= 86400:
        raise ConfigError("routing.blend_hold_s: 0 (off) to 86400 seconds")


def _loopback(host: str) -> bool:
    """``localhost`` or a loopback address (any of 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_callbacks(c: CallbacksConfig) -> None:
    if c.carrier_outbound and not _HOSTPORT.match(c.carrier_outbound):
        raise ConfigError("callbacks.carrier_outbound must be host:port")
    if not _ENDPOINT.match(c.trunk):
        raise ConfigError("callbacks.trunk must be a PJSIP endpoint name")
    for name in ("ip", "number", "tenant"):
        if getattr(c, f"{name}_burst") < 1 or getattr(c, f"{name}_every_s") <= 0:
            raise ConfigError(f"callbacks.{name}_burst / {name}_every_s must be positive")
    if c.prompt_plays < 1 or c.confirm_timeout_s <= 0 or c.defer_s <= 0:
        raise ConfigError("callbacks.prompt_plays, confirm_timeout_s and defer_s must be positive")


_EDGE_LISTEN = re.compile(r"^udp:[0-9.]+:[0-9]{1,5}$")
_EDGE_RPC = re.compile(r"^http://[0-9.]+:[0-9]{1,5}/[A-Za-z0-9/_-]*$")
_EDGE_DESTINATION = re.compile(r"^sip:[A-Za-z0-9.\-]+:[0-9]{1,5}$")


def _validate_edge(c: EdgeConfig, database_url: str) -> None:
    if c.enabled and not database_url.startswith("postgresql"):
        raise ConfigError("edge.enabled needs a postgresql database.url")
    if not _EDGE_LISTEN.match(c.listen):
        raise ConfigError("edge.listen must be udp:<ip>:<port>")
    if not _EDGE_RPC.match(c.rpc_url):
        raise ConfigError("edge.rpc_url must be http://<ip>:<port>/<path>")
    for net in c.carriers:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"edge.carriers: {net!r} is not a network") from None
    if not c.carriers:
        raise ConfigError("edge.carriers: at least one network (the carriers' addresses)")
    if c.destination and not _EDGE_DESTINATION.match(c.destination):
        raise ConfigError("edge.destination must be sip:<host>:<port>")
    if not 1 <= c.probe_s <= 60 or not 100 <= c.timeout_ms < 1000 * c.probe_s:
        raise ConfigError("edge.probe_s: 1 to 60 s; edge.timeout_ms: 100 ms to below probe_s")
    if c.update_s <= 0 or c.node_capacity < 1:
        raise ConfigError("edge.update_s must be positive, edge.node_capacity at least 1")
    if c.phones and not c.enabled:
        raise ConfigError("edge.phones needs edge.enabled (the edge is their registrar)")


def _validate_wallboard(c: WallboardConfig) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not 0 < c.service_level_s <= 3600 or c.window_s < 60 or not 0.1 <= c.push_every_s <= 60:
        raise ConfigError("wallboard.service_level_s: 0 to 3600 s, window_s at least 60 s, "
                          "push_every_s 0.1 to 60 s")
    try:
        ZoneInfo(c.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"wallboard.time_zone: {c.time_zone!r} is not an IANA time zone") from None


def _validate_security(c: SecurityConfig) -> None:
    import ipaddress

    if c.max_failures < 1 or c.window_s <= 0 or c.block_s <= 0:
        raise ConfigError("security.max_failures, window_s and block_s must be positive")
    if c.repeat_factor < 1 or c.max_block_s < c.block_s or c.repeat_memory_s < 0:
        raise ConfigError("security.repeat_factor must be >= 1, max_block_s >= block_s, "
                          "repeat_memory_s >= 0")
    for net in c.allow:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"security.allow: {net!r} is not a network") from None
    if c.enforce not in ("asterisk-acl", "nftables"):
        raise ConfigError("security.enforce is 'asterisk-acl' or 'nftables'")
    if not c.nft_command:
        raise ConfigError("security.nft_command names the nft program")

"""The composition root: builds every client and service once and hands them over typed.

Two aiohttp applications share one :class:`Runtime`:

* the **internal** app (agents, supervisors, admin API) on ``web.internal_*``, kept behind
  the firewall;
* the **public** app (customer-facing endpoints) on ``web.public_*``, which has no route
  into internal data.

Start-up order matters: the ARI websocket connects and the first reconcile rebuilds the
calls from Asterisk + DB *before* the queue is rebuilt and starts offering work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ccari import heap, keys
from ccari.admin import plugin as admin_plugin
from ccari.admission import plugin as admission_plugin
from ccari.admission.service import AdmissionService
from ccari.agents import plugin as agents_plugin
from ccari.agents.commands import AgentCommands
from ccari.agents.notifier import AgentHub
from ccari.agents.sessions import PageSessions
from ccari.ari import AriClient
from ccari.ari.router import StasisRouter
from ccari.callbacks import plugin as callbacks_plugin
from ccari.callbacks.limits import Limits
from ccari.callbacks.outward import OutwardGuard
from ccari.chat import plugin as chat_plugin
from ccari.cluster import plugin as cluster_plugin
from ccari.cluster.bus import Bus
from ccari.cluster.leader import Leadership
from ccari.cluster.lost import Adopter
from ccari.cluster.resume import CallsElsewhere
from ccari.cobrowse import plugin as cobrowse_plugin
from ccari.cobrowse.services import CobrowseService
from ccari.config import Config
from ccari.contacts.offers import PageOffers
from ccari.contacts.services import QueueService
from ccari.crm import plugin as crm_plugin
from ccari.edge import plugin as edge_plugin
from ccari.email import plugin as email_plugin
from ccari.fax import plugin as fax_plugin
from ccari.metrics import Metrics
from ccari.pbx.watch import PbxWatch
from ccari.provisioning import plugin as provisioning_plugin
from ccari.provisioning.pbx import PbxSync
from ccari.public import plugin as public_plugin
from ccari.public.origins import Origins
from ccari.public.ratelimit import Limiters
from ccari.public.tokens import CustomerTokens
from ccari.recording import plugin as recording_plugin
from ccari.reports import plugin as reports_plugin
from ccari.routing import Rules
from ccari.security import plugin as security_plugin
from ccari.security.services import SecurityService
from ccari.sites import plugin as sites_plugin
from ccari.sites.services import SiteBandwidth
from ccari.speech import plugin as speech_plugin
from ccari.storage.batch import GroupCommit
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import utcnow
from ccari.supervisor import plugin as supervisor_plugin
from ccari.talk import plugin as talk_plugin
from ccari.voice import plugin as voice_plugin
from ccari.voice.ports import IvrCallbacks, LegPlanner, SpeechPort, VoicemailPort
from ccari.voice.replay import RESUME_CALLS, CallReplay, no_calls
from ccari.voice.services import VoiceService
from ccari.voicemail import plugin as voicemail_plugin
from ccari.wallboard import plugin as wallboard_plugin
from ccari.web import openapi
from ccari.web.middlewares import errors, note_socket, security_headers
from ccari.web.security import SessionSigner
from ccari.web.tls import server_context, transport_security

log = logging.getLogger(__name__)
# Bounded contexts wired into the runtime, in order: each has a ``plugin.py`` with
# ``async def install(rt, stack)``, which adds its route setups (from its ``http.py``) to
# ``rt.internal_setups`` / ``rt.public_setups`` and its background work to ``stack``.
# The voice ACD (``ccari/voice/plugin.py``) is installed after them, once ARI exists.
PLUGINS = (cluster_plugin, admin_plugin, agents_plugin, supervisor_plugin, admission_plugin, public_plugin,
           chat_plugin, email_plugin, callbacks_plugin, cobrowse_plugin, crm_plugin,
           voicemail_plugin, provisioning_plugin, security_plugin, wallboard_plugin,
           speech_plugin, recording_plugin, fax_plugin, reports_plugin, talk_plugin,
           sites_plugin, edge_plugin)


def load_or_create_secrets(state_dir: Path) -> dict[str, str]:
    """ccari's own secrets (admin token, cookie key), generated once, kept 0600."""
    path = state_dir / "secrets.json"
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for name in ("admin_token", "secret_key"):
        if not data.get(name):
            data[name] = secrets.token_urlsafe(32)
            changed = True
    if changed:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        tmp.replace(path)
    return data


def with_secrets(cfg: Config) -> Config:
    """Fill the secrets the config leaves empty from the generated state files."""
    own = load_or_create_secrets(cfg.state_path)
    cfg = replace(
        cfg,
        admin_token=cfg.admin_token or own["admin_token"],
        web=replace(cfg.web, secret_key=cfg.web.secret_key or own["secret_key"]),
    )
    if not cfg.pbx.ari_password:  # managed, or rendered for an admin's Asterisk to include
        from ccari.pbx.secrets import load_or_create_secrets as pbx_secrets

        pbx = pbx_secrets(cfg.state_path / "pbx" / cfg.pbx.instance)
        cfg = replace(cfg, pbx=replace(
            cfg.pbx, ari_user=pbx["ari_user"], ari_password=pbx["ari_password"],
            ami_user=pbx["ami_user"], ami_secret=pbx["ami_secret"],
        ))
    return cfg


@dataclass
class Runtime:
    config: Config
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    hub: AgentHub
    queue: QueueService
    signer: SessionSigner
    tokens: CustomerTokens
    origins: Origins
    # The sockets of the agents' page sessions on this node, closed when a session ends.
    page_sessions: PageSessions
    commands: AgentCommands = field(default_factory=AgentCommands)
    # Per-IP/per-session rate limits of the public side, shared by its contexts.
    limiters: Limiters = field(default_factory=Limiters)
    offers: PageOffers | None = None
    agent_scripts: list[str] = field(default_factory=list)
    # Routes contexts add to each listener (a context's plugin.install appends to these).
    internal_setups: list[Callable[[web.Application], None]] = field(default_factory=list)
    public_setups: list[Callable[[web.Application], None]] = field(default_factory=list)
    admission: AdmissionService | None = None
    ari: AriClient | None = None
    voice: VoiceService | None = None
    cobrowse: CobrowseService | None = None  # set by the cobrowse plugin
    # What contexts offer the voice ACD, handed to VoiceService when it is built (after
    # every plugin is installed): the IVR's "call me back" (set by the callbacks plugin)
    # and the keeping of voicemails (set by the voicemail plugin).
    ivr_callbacks: IvrCallbacks | None = None
    voicemail: VoicemailPort | None = None
    speech: SpeechPort | None = None  # spoken answers in the IVR (set by the speech plugin)
    # Agent legs' media node, codec and bandwidth (set by the sites plugin).
    legs: LegPlanner | None = None
    # The sites' bandwidth: the legs counted (set by the sites plugin; the same as legs).
    sites: SiteBandwidth | None = None
    # What GET /metrics reports; each owner registers its series.
    metrics: Metrics = field(default_factory=Metrics)
    # The Asterisk ccari started itself (managed mode), restarted when it dies.
    pbx: PbxWatch | None = None
    # The SIP attack guard (set by the security plugin).
    security: SecurityService | None = None
    # The one gate of every outward number (toll-fraud guard + rate limits), shared by
    # callbacks, transfers, consults and faxes.
    outward: OutwardGuard | None = None
    # Contexts that place or take calls attach once ARI and the voice ACD exist (before ARI
    # connects, so that their reconcile runs on the first connect too).
    pbx_setups: list[Callable[[AriClient, StasisRouter, VoiceService], object]] = field(
        default_factory=list)
    # Renders the database into Asterisk and reloads what changed (one at a time), once
    # the PBX exists: provisioning changes, a browser phone's per-login password.
    pbx_sync: PbxSync | None = None
    # What a deleted tenant leaves in memory and on disk, forgotten (ccari.tenants.cleanup):
    # each context appends a callable taking the tenant's id.
    tenant_gone: list[Callable[[int], None]] = field(default_factory=list)
    # What tells the other nodes "look" (set by the cluster plugin, first: in-process for
    # one node), and the routing leadership when there are several.
    bus: Bus | None = None
    leadership: Leadership | None = None
    # Taking over the waiting callers of a node whose ccari died (set by the voice plugin
    # when this node stands in for others: cluster.standby_ari).
    adoption: Adopter | None = None
    # Several nodes: an agent's live calls the other nodes carry, for her reopened page
    # (set by the cluster plugin; answered by the voice ACD of a node with a PBX).
    calls_elsewhere: CallsElsewhere | None = None
    # This node has an Asterisk (it can ring phones): in a cluster it is preferred as the
    # routing leader over nodes that serve the web only.
    carries_calls: bool = True


@contextlib.asynccontextmanager
async def runtime(cfg: Config, *, with_pbx: bool = True,
                  pbx: PbxWatch | None = None) -> AsyncIterator[Runtime]:
    """``pbx``: the managed Asterisk's watch (``ccari run``), started here and closed
    before the caller stops that Asterisk; None when someone else runs the PBX."""
    engine = make_engine(cfg.database.url, echo=cfg.database.echo,
                         busy_timeout_s=cfg.database.busy_timeout_s)
    sessions = make_sessionmaker(engine)
    hub = AgentHub()
    # One group commit for the hot path: offers, calls and trunk admission share commits.
    writes = GroupCommit(sessions)
    routing = cfg.routing
    queue = QueueService(sessions, hub, node=cfg.node, writes=writes, rules=Rules(
        reoffer_delay=routing.reoffer_delay_s, missed_offer_delay=routing.missed_offer_delay_s,
        hold_after=routing.blend_hold_s))
    admission = AdmissionService(sessions, queue.available_agents, node=cfg.node, writes=writes)
    rt = Runtime(cfg, engine, sessions, hub, queue,
                 SessionSigner(cfg.web.secret_key, cfg.web.session_max_age_s),
                 tokens=CustomerTokens(cfg.web.secret_key), origins=Origins(sessions),
                 page_sessions=PageSessions(sessions), admission=admission)
    rt.carries_calls = with_pbx
    rt.offers = PageOffers(sessions, queue, accept_timeout_s=routing.accept_timeout_s)
    rt.outward = OutwardGuard(sessions, Limits.of(cfg.callbacks), node=cfg.node)
    rt.offers.register_commands(rt.commands)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        stack.push_async_callback(writes.close)
        stack.push_async_callback(hub.close)
        stack.push_async_callback(rt.page_sessions.close)
        stack.push_async_callback(queue.close)
        stack.push_async_callback(rt.offers.close)
        stack.push_async_callback(rt.outward.close)
        for plugin in PLUGINS:
            await plugin.install(rt, stack)
        if with_pbx:
            if pbx is not None:  # Asterisk is restarted if it dies, from now until shutdown
                rt.pbx = pbx
                pbx.register_metrics(rt.metrics)
                pbx.start()
                stack.push_async_callback(pbx.close)
            http = await stack.enter_async_context(aiohttp.ClientSession())
            p = cfg.pbx
            rt.ari = AriClient(http, f"http://{p.host}:{p.ari_port}", p.ari_user, p.ari_password,
                               p.app_name, request_timeout=p.request_timeout_s,
                               subscribe_all=False, rest_over_websocket=True,
                               filter_events=True)
            ari = rt.ari
            rt.metrics.gauge("ccari_ari_connected",
                             "1 while the ARI websocket is up and reconciled",
                             lambda: 1 if ari.connected else 0)
            # Free the trunks of calls that ended while we were away before reconcile
            # admits the calls that arrived meanwhile.
            rt.ari.on_connected(_admission_rebuilder(rt.ari, admission))
            router, voice = await voice_plugin.install(rt, stack, rt.ari, writes)
            rt.pbx_sync = PbxSync(sessions, cfg)
            for attach in rt.pbx_setups:
                attach(rt.ari, router, voice)
            # An Asterisk ccari did not start may come up after it: the listeners serve
            # meanwhile and the client connects (and reconciles) when it answers.
            await rt.ari.start(patient=cfg.pbx.mode == "external")
            stack.push_async_callback(rt.ari.close)
        elif rt.calls_elsewhere is not None:  # web media only: her calls on other nodes
            CallReplay(sessions, hub, utcnow,
                       elsewhere=rt.calls_elsewhere).register_commands(rt.commands)
        else:  # web media only: the agent's page asks for her calls all the same
            rt.commands.register(RESUME_CALLS, no_calls)
        await cluster_plugin.start_routing(rt)
        yield rt


def _admission_rebuilder(ari: AriClient, admission: AdmissionService):  # type: ignore[no-untyped-def]
    async def rebuild() -> None:
        as_of = time.time()
        await admission.rebuild([c.id for c in await ari.list_channels()], as_of=as_of)

    return rebuild


def internal_app(rt: Runtime) -> web.Application:
    app = web.Application(middlewares=[security_headers, transport_security, errors],
                          client_max_size=1024**2)
    app.on_response_prepare.append(note_socket)
    _set_keys(app, rt)
    for setup in (*rt.internal_setups, openapi.setup("internal")):
        setup(app)
    return app


def public_app(rt: Runtime) -> web.Application:
    """Customer-facing side: what contexts register in ``rt.public_setups`` (widget, chat,
    help requests, co-browse capture, health); no route into internal data."""
    app = web.Application(middlewares=[security_headers, transport_security, errors],
                          client_max_size=256 * 1024)
    app.on_response_prepare.append(note_socket)
    _set_keys(app, rt)
    for setup in (*rt.public_setups, openapi.setup("public")):
        setup(app)
    return app


def _set_keys(app: web.Application, rt: Runtime) -> None:
    app[keys.CONFIG] = rt.config
    app[keys.SESSIONS] = rt.sessions
    app[keys.QUEUE] = rt.queue
    app[keys.HUB] = rt.hub
    app[keys.PAGE_SESSIONS] = rt.page_sessions
    app[keys.SIGNER] = rt.signer
    app[keys.COMMANDS] = rt.commands
    app[keys.AGENT_SCRIPTS] = rt.agent_scripts
    app[keys.TOKENS] = rt.tokens
    app[keys.ORIGINS] = rt.origins
    app[keys.METRICS] = rt.metrics


async def listen(rt: Runtime, ssl_context: ssl.SSLContext | None = None) -> list[web.AppRunner]:
    """Both listeners serving (over TLS with ``ssl_context``); the runners to clean up."""
    w = rt.config.web
    runners: list[web.AppRunner] = []
    try:
        for app, host, port in ((internal_app(rt), w.internal_host, w.internal_port),
                                (public_app(rt), w.public_host, w.public_port)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    except BaseException:
        for runner in runners:
            await runner.cleanup()
        raise
    scheme = "https" if ssl_context else "http"
    log.info("ccari serving: internal %s://%s:%s public %s://%s:%s", scheme, w.internal_host,
             w.internal_port, scheme, w.public_host, w.public_port)
    return runners


async def serve(cfg: Config, *, ready: asyncio.Event | None = None, with_pbx: bool = True,
                pbx: PbxWatch | None = None) -> None:
    """Run both listeners until SIGINT/SIGTERM (``with_pbx=False``: web media only;
    ``pbx``: the watch of the Asterisk ``ccari run`` started)."""
    ssl_context = server_context(cfg.web)  # a certificate that cannot load stops us here
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if (dumps := heap.Dumps.from_env()) is not None:  # CCARI_TRACEMALLOC: see ccari/heap.py
        loop.add_signal_handler(signal.SIGUSR2, dumps.dump)
    async with runtime(cfg, with_pbx=with_pbx, pbx=pbx) as rt:
        runners = await listen(rt, ssl_context)
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            for runner in runners:
                await runner.cleanup()

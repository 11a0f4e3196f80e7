"""The PBX as the database describes it: trunks, one phone per agent, every tenant number."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.agents import repo as agents_repo
from ccari.agents.devices import BROWSER, SIP, SIP_TLS
from ccari.config import Config, PbxConfig
from ccari.errors import ConfigError
from ccari.pbx import spec
from ccari.pbx.instance import PbxProcess, start
from ccari.pbx.spec import VIDEO_CODECS, Number, PbxSpec, Phone, Ports, TlsSpec, Trunk, peer_key, web_key
from ccari.sites.bandwidth import phone_codecs
from ccari.storage.models import Agent
from ccari.tenants import repo

log = logging.getLogger(__name__)


async def spec_from_db(cfg: Config) -> PbxSpec:
    """The PBX spec the database at ``cfg.database.url`` describes (its own engine)."""
    from ccari.storage.db import make_engine, make_sessionmaker

    engine = make_engine(cfg.database.url)
    try:
        async with make_sessionmaker(engine)() as s:
            return await build_spec(s, cfg)
    finally:
        await engine.dispose()


async def build_spec(session: AsyncSession, cfg: Config) -> PbxSpec:
    p = cfg.pbx
    agents = await agents_repo.all_agents(session)
    numbers = await repo.all_numbers(session)
    tls = sip_tls(p)
    if tls is None and (off := [a.phone_username for a in agents if a.device == SIP_TLS]):
        # Never downgraded to plain SIP: left out of Asterisk until TLS is configured.
        log.warning("PBX: no pbx.sip_tls_port: the TLS phones %s are left out", ", ".join(off))
        agents = [a for a in agents if a.device != SIP_TLS]
    return PbxSpec(
        instance=p.instance,
        app_name=p.app_name,
        ari_user=p.ari_user,
        ari_password=p.ari_password,
        ami_user=p.ami_user,
        ami_secret=p.ami_secret,
        ports=Ports(sip=p.sip_port, ari=p.ari_port, ami=p.ami_port,
                    rtp_start=p.rtp_start, rtp_end=p.rtp_end),
        trunks=(Trunk(name=spec.CARRIER, match=tuple(p.carrier_match), dead_call_s=p.dead_call_s),),
        phones=tuple(_phone(a, cfg) for a in agents),
        numbers=tuple(Number(n.did, t.slug, fax=n.purpose == "fax") for n, t in numbers),
        web_key=web_key(p.ari_password) if p.ari_password else None,
        tls=tls,
        # Several nodes, each with its Asterisk, share the database: ids unique across them.
        system_name=cfg.node if cfg.cluster.enabled else "",
        peer_key=peer_key(p.ari_password) if cfg.cluster.enabled and p.ari_password else None,
    )


def _phone(a: Agent, cfg: Config) -> Phone:
    """An agent's PJSIP endpoint.  A plain SIP phone without a fixed contact registers at
    the SIP edge when it is the phones' registrar: every node's Asterisk rings it there."""
    at_edge = cfg.edge.enabled and cfg.edge.phones and a.device == SIP and not a.phone_contact
    edge = cfg.phone_registrar.removeprefix("sip:")
    contact = f"sip:{a.phone_username}@{edge}" if at_edge else a.phone_contact
    return Phone(a.phone_username, a.phone_password, contact,
                 qualify_s=cfg.pbx.agent_qualify_s, webrtc=a.device == BROWSER,
                 codecs=phone_codecs(a.device),
                 video_codecs=VIDEO_CODECS if a.device == BROWSER else (),
                 tls=a.device == SIP_TLS, registers=not at_edge)


def sip_tls(p: PbxConfig) -> TlsSpec | None:
    """The TLS transport of the agents' phones (``pbx.sip_tls_*``), its PEM files read."""
    if not p.sip_tls_port:
        return None
    try:
        with open(p.sip_tls_cert) as cert, open(p.sip_tls_key) as key:
            return TlsSpec(p.sip_tls_port, cert.read(), key.read())
    except OSError as exc:
        raise ConfigError(f"pbx.sip_tls_cert / pbx.sip_tls_key: cannot read them: {exc}") from None


def restart_from_db(cfg: Config) -> Callable[[PbxProcess], Awaitable[PbxProcess]]:
    """How the PBX watch starts a dead Asterisk again: with the agents and numbers the
    database holds now (a ``pbx-sync`` since start-up stays applied), or the last spec if
    the database cannot be read."""

    async def restart(previous: PbxProcess) -> PbxProcess:
        try:
            spec = await spec_from_db(cfg)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("PBX restart: database unreadable (%s); using the last configuration", exc)
            spec = previous.spec
        return await asyncio.to_thread(start, spec, runtime=previous.paths.runtime)

    return restart

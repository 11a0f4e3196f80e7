"""Kamailio's configuration from the edge settings (``asterisk/edge/kamailio.cfg.j2``).

Pure apart from reading the template: the caller writes the text (``ccari edge render``,
or a test's run directory).  The text holds the database password and the RPC key: write
it 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import jinja2
from sqlalchemy.engine import make_url

from ccari import home
from ccari.config import Config, EdgeConfig, SecurityConfig
from ccari.config.service import EDGE_RPC_KEY
from ccari.edge.models import DISPATCHER_TABLE, LOCATION_TABLE, PHONES_VIEW, VERSION_TABLE
from ccari.edge.repo import SET_ID

TEMPLATE = "kamailio.cfg.j2"
CONFIG_FILE = "kamailio.cfg"


class EdgeRenderError(ValueError):
    """The settings cannot make a Kamailio configuration."""


@dataclass(frozen=True)
class RpcAddress:
    host: str
    port: int
    path: str


def rpc_address(url: str) -> RpcAddress:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise EdgeRenderError(f"edge.rpc_url {url!r}: http://<host>:<port>/<path>")
    return RpcAddress(parts.hostname, parts.port, parts.path or "/")


def kamailio_db_url(database_url: str) -> str:
    """``postgresql+asyncpg://u:p@h:port/db`` as db_postgres takes it: ``postgres://u:p@h:port/db``."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise EdgeRenderError("the edge needs a postgresql database.url")
    user = quote(url.username or "", safe="")
    auth = user + (":" + quote(url.password, safe="") if url.password else "")
    host = url.host or "127.0.0.1"
    return f"postgres://{auth}{'@' if auth else ''}{host}:{url.port or 5432}/{url.database}"


@dataclass(frozen=True)
class Guard:
    """Failed registrations at the edge blocked as Asterisk's are (``[security]``)."""

    max_failures: int
    window_s: int
    block_s: int
    allow: str  # networks never blocked, comma-separated CIDR


def guard(security: SecurityConfig | None) -> Guard | None:
    if security is None or not security.enabled:
        return None
    return Guard(security.max_failures, max(1, round(security.window_s)),
                 max(1, round(security.block_s)), ",".join(security.allow))


def render_text(edge: EdgeConfig, database_url: str, *, security: SecurityConfig | None = None,
                root: Path | None = None, children: int = 4, log_level: int = 2) -> str:
    rpc = rpc_address(edge.rpc_url)
    db_url = kamailio_db_url(database_url)
    if not EDGE_RPC_KEY.match(edge.rpc_key):  # it goes into a quoted string of the config
        raise EdgeRenderError("edge.rpc_key: at least 16 letters, digits, '-' or '_' (the "
                              "secret the nodes send Kamailio's JSON-RPC)")
    proto, _, hostport = edge.listen.partition(":")
    listen_host, _, listen_port = hostport.rpartition(":")
    if proto != "udp" or not listen_host or not listen_port.isdigit():
        raise EdgeRenderError(f"edge.listen {edge.listen!r}: udp:<ip>:<port>")
    if int(listen_port) == rpc.port:  # SIP is not taken on the RPC's port
        raise EdgeRenderError("edge.listen and edge.rpc_url need different ports")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str((root or home.project_root()) / "asterisk" / "edge")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.get_template(TEMPLATE).render(
        listen=edge.listen, listen_host=listen_host, carriers=",".join(edge.carriers),
        rpc_host=rpc.host, rpc_port=rpc.port, rpc_path=rpc.path,
        rpc_clients=",".join(edge.rpc_clients), rpc_key=edge.rpc_key,
        db_url=db_url, table=DISPATCHER_TABLE,
        version_table=VERSION_TABLE, location_table=LOCATION_TABLE, setid=SET_ID, probe_s=edge.probe_s,
        timeout_ms=edge.timeout_ms, ring_timeout_ms=120_000, dialog_timeout_ms=5000, children=children,
        log_level=log_level, phones=edge.phones, phones_table=PHONES_VIEW,
        qualify_wait_ms=10_000,  # past any node's qualify_timeout (3 s at most)
        guard=guard(security) if edge.phones else None)


def write(cfg: Config, out: Path, *, children: int = 4, log_level: int = 2) -> Path:
    """Write ``<out>/kamailio.cfg`` (0600: it holds the database password and the RPC key)."""
    text = render_text(cfg.edge, cfg.database.url, security=cfg.security, children=children,
                       log_level=log_level)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path

"""Typed configuration: defaults in code, one TOML file, environment overrides.

Precedence (lowest first): the defaults below, the file named by ``CCARI_CONFIG`` (or
``--config``), then environment variables ``CCARI_<SECTION>_<KEY>`` (e.g.
``CCARI_WEB_INTERNAL_PORT=9000``).  ``ccari.sample.toml`` at the repo root documents every
key; its sections are in :mod:`ccari.config.service` and :mod:`ccari.config.telephony`,
each checking its own keys.  :func:`load` validates everything at start-up and raises
:class:`ConfigError` with the offending key, so a typo never surfaces as a failure in the
middle of a call.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccari.config.section import Section
from ccari.config.service import (
    ClusterConfig,
    CrmConfig,
    DatabaseConfig,
    EdgeConfig,
    RoutingConfig,
    SecurityConfig,
    SmtpConfig,
    WallboardConfig,
    WebConfig,
)
from ccari.config.telephony import (
    CallbacksConfig,
    FaxConfig,
    PbxConfig,
    PromptsConfig,
    SitesConfig,
    SpeechConfig,
    VoiceConfig,
)
from ccari.errors import ConfigError

__all__ = [
    "CallbacksConfig", "ClusterConfig", "Config", "ConfigError", "CrmConfig", "DatabaseConfig",
    "EdgeConfig", "FaxConfig", "PbxConfig", "PromptsConfig", "RoutingConfig", "SecurityConfig",
    "SitesConfig", "SmtpConfig", "SpeechConfig", "VoiceConfig", "WallboardConfig", "WebConfig",
    "load", "sqlite_in", "validate",
]


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
    """Every section's own checks, then the rules across sections."""
    if cfg.log_format not in ("text", "json"):
        raise ConfigError("log_format must be 'text' or 'json'")
    for f in dataclasses.fields(cfg):
        section = getattr(cfg, f.name)
        if isinstance(section, Section):
            section.check()
    postgres = cfg.database.url.startswith("postgresql")
    if cfg.cluster.enabled and not postgres:
        raise ConfigError("cluster.enabled needs a postgresql database.url")
    if cfg.edge.enabled and not postgres:
        raise ConfigError("edge.enabled needs a postgresql database.url")

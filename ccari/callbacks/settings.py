"""Node settings of the callbacks context: typed, defaults in code, environment overrides.

``CCARI_CALLBACKS_<KEY>`` overrides a default (e.g. ``CCARI_CALLBACKS_CARRIER_OUTBOUND=
10.0.0.5:5060``), the same naming a ``[callbacks]`` section of the config file would use.
Per-tenant choices (mode, retries, allow-list) live in the database
(:class:`ccari.callbacks.models.CallbackSettings`), not here.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ccari.callbacks.limits import Limits, Rate
from ccari.config import Config
from ccari.errors import ConfigError

_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")


@dataclass(frozen=True)
class CallbacksConfig:
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

    def outbound_host(self, cfg: Config) -> str:
        if self.carrier_outbound:
            return self.carrier_outbound
        match = cfg.pbx.carrier_match
        return f"{match[0] if match else '127.0.0.2'}:5060"

    def limits(self) -> Limits:
        return Limits(Rate(self.ip_burst, self.ip_every_s),
                      Rate(self.number_burst, self.number_every_s),
                      Rate(self.tenant_burst, self.tenant_every_s))


def load(cfg: Config, env: Mapping[str, str] | None = None) -> CallbacksConfig:
    """Defaults, then ``cfg.callbacks`` if the config has that section, then the environment."""
    env = os.environ if env is None else env
    base = getattr(cfg, "callbacks", None)
    settings = base if isinstance(base, CallbacksConfig) else CallbacksConfig()
    changes: dict[str, object] = {}
    for f in dataclasses.fields(CallbacksConfig):
        key = f"CCARI_CALLBACKS_{f.name.upper()}"
        if key not in env:
            continue
        raw = env[key]
        kind = type(getattr(settings, f.name))
        try:
            changes[f.name] = kind(raw)
        except ValueError:
            raise ConfigError(f"callbacks.{f.name}: expected {kind.__name__}, got {raw!r}") from None
    settings = dataclasses.replace(settings, **changes)  # type: ignore[arg-type]
    validate(settings)
    return settings


def validate(s: CallbacksConfig) -> None:
    if s.carrier_outbound and not _HOSTPORT.match(s.carrier_outbound):
        raise ConfigError("callbacks.carrier_outbound must be host:port")
    if not re.match(r"^[A-Za-z0-9_.\-]+$", s.trunk):
        raise ConfigError("callbacks.trunk must be a PJSIP endpoint name")
    for name in ("ip", "number", "tenant"):
        if getattr(s, f"{name}_burst") < 1 or getattr(s, f"{name}_every_s") <= 0:
            raise ConfigError(f"callbacks.{name}_burst / {name}_every_s must be positive")
    if s.prompt_plays < 1 or s.confirm_timeout_s <= 0 or s.defer_s <= 0:
        raise ConfigError("callbacks.prompt_plays, confirm_timeout_s and defer_s must be positive")

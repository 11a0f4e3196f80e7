"""Dead calls and agent qualify in the rendered PJSIP config: pure, checked without Asterisk."""

from __future__ import annotations

import pytest

from ccari.config import load
from ccari.errors import ConfigError
from ccari.pbx import Phone, SpecError, Trunk, render_texts
from tests.pbx.test_pbx_render import DIRS, make_spec, objects


def _pjsip(trunk: Trunk, *phones: Phone) -> str:
    return render_texts(make_spec(trunks=(trunk,), phones=phones), DIRS)["ccari-pjsip.conf"]


@pytest.mark.parametrize(
    ("dead_call_s", "expected"),
    [
        (0, {}),
        (4, {"rtp_timeout": ["4"], "rtp_timeout_hold": ["20"], "timers": ["yes"],
             "timers_min_se": ["90"], "timers_sess_expires": ["90"]}),
        (60, {"rtp_timeout": ["60"], "rtp_timeout_hold": ["300"], "timers": ["yes"],
              "timers_min_se": ["90"], "timers_sess_expires": ["120"]}),
        (600, {"rtp_timeout": ["600"], "rtp_timeout_hold": ["3000"], "timers": ["yes"],
               "timers_min_se": ["90"], "timers_sess_expires": ["1200"]}),
    ],
)
def test_carrier_trunk_gets_rtp_timeout_and_session_timers(
    dead_call_s: int, expected: dict[str, list[str]]
) -> None:
    endpoint = objects(_pjsip(Trunk("carrier", ("192.0.2.10",), dead_call_s=dead_call_s)),
                       "endpoint")["carrier"]
    keys = ("rtp_timeout", "rtp_timeout_hold", "timers", "timers_min_se", "timers_sess_expires")
    assert {k: v for k, v in endpoint.items() if k in keys} == expected


@pytest.mark.parametrize(
    ("qualify_s", "expected"),
    [
        (0, {}),
        (1, {"qualify_frequency": ["1"], "qualify_timeout": ["0.5"]}),
        (30, {"qualify_frequency": ["30"], "qualify_timeout": ["3.0"]}),
    ],
)
def test_agent_aors_are_qualified(qualify_s: int, expected: dict[str, list[str]]) -> None:
    text = _pjsip(Trunk("carrier", ("192.0.2.10",)),
                  Phone("alice", "alice-pass-1", "sip:alice@127.0.0.1:16001", qualify_s=qualify_s),
                  Phone("bob", "bob-pass-22", qualify_s=qualify_s))
    aors = objects(text, "aor")
    for name in ("alice", "bob"):
        got = {k: v for k, v in aors[name].items() if k.startswith("qualify")}
        assert got == expected
    # The trunk's aor is never qualified (the carrier may not answer OPTIONS).
    assert not any(k.startswith("qualify") for k in aors["carrier"])


@pytest.mark.parametrize(
    "changes",
    [
        {"trunks": (Trunk("carrier", ("192.0.2.10",), dead_call_s=1),)},
        {"trunks": (Trunk("carrier", ("192.0.2.10",), dead_call_s=-5),)},
        {"trunks": (Trunk("carrier", ("192.0.2.10",), dead_call_s=86401),)},
        {"trunks": (Trunk("carrier", ("192.0.2.10",), dead_call_s="60"),)},  # type: ignore[arg-type]
        {"phones": (Phone("alice", "alice-pass-1", qualify_s=-1),)},
        {"phones": (Phone("alice", "alice-pass-1", qualify_s=True),)},
    ],
)
def test_invalid_timers_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(SpecError):
        render_texts(make_spec(**changes), DIRS)


def test_config_defaults_and_validation() -> None:
    cfg = load(env={})
    assert (cfg.pbx.dead_call_s, cfg.pbx.agent_qualify_s) == (60, 30)
    assert load(env={"CCARI_PBX_DEAD_CALL_S": "0"}).pbx.dead_call_s == 0
    for env, key in (({"CCARI_PBX_DEAD_CALL_S": "1"}, "pbx.dead_call_s"),
                     ({"CCARI_PBX_AGENT_QUALIFY_S": "-3"}, "pbx.agent_qualify_s"),
                     ({"CCARI_PBX_DEAD_CALL_S": "soon"}, "pbx.dead_call_s")):
        with pytest.raises(ConfigError, match=key):
            load(env=env)

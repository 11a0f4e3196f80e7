"""Typed config: defaults, file, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccari.config import Config, load
from ccari.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_sample_file_is_valid_and_equals_the_defaults() -> None:
    assert load(ROOT / "ccari.sample.toml", env={}) == Config()


def test_the_default_database_lives_in_the_state_directory(tmp_path: Path) -> None:
    # e.g. the systemd unit: CCARI_STATE_DIR=/var/lib/ccari, the sample's url left as it is
    state = tmp_path / "state"
    sample = ROOT / "ccari.sample.toml"
    assert load(sample, env={"CCARI_STATE_DIR": str(state)}).database.url == \
        f"sqlite+aiosqlite:///{state}/ccari.db"
    chosen = {"CCARI_STATE_DIR": str(state), "CCARI_DATABASE_URL": "sqlite+aiosqlite:///x.db"}
    assert load(sample, env=chosen).database.url == "sqlite+aiosqlite:///x.db"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[web]\ninternal_port = 9000\n[pbx]\ncarrier_match = ["10.0.0.1"]\n')
    cfg = load(f, env={"CCARI_WEB_INTERNAL_PORT": "9100", "CCARI_PBX_CARRIER_MATCH": "10.0.0.2,10.0.0.3"})
    assert cfg.web.internal_port == 9100
    assert cfg.pbx.carrier_match == ("10.0.0.2", "10.0.0.3")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.9", "localhost", "::1"])
def test_pbx_host_may_be_any_loopback_address(tmp_path: Path, host: str) -> None:
    # e.g. a proxy of its own on 127.0.0.9 in front of Asterisk's ports (bench.resilience)
    f = tmp_path / "c.toml"
    f.write_text("")
    assert load(f, env={"CCARI_PBX_HOST": host}).pbx.host == host


@pytest.mark.parametrize(("text", "env", "key"), [
    ("[web]\ninternal_port = 'x'\n", {}, "web.internal_port"),
    ("[web]\nintrenal_port = 1\n", {}, "web.intrenal_port"),
    ("", {"CCARI_PBX_HOST": "0.0.0.0"}, "pbx.host"),
    ("", {"CCARI_PBX_HOST": "10.0.0.1"}, "pbx.host"),
    ("", {"CCARI_PBX_HOST": "pbx.example"}, "pbx.host"),
    ("", {"CCARI_DATABASE_URL": "mysql://x"}, "database.url"),
    ("", {"CCARI_WEB_PUBLIC_PORT": "8080"}, "must differ"),
    ("[voice]\nconference_max_parties = 2\n", {}, "voice.conference_max_parties"),
    ("", {"CCARI_VOICE_CONFERENCE_MAX_PARTIES": "33"}, "voice.conference_max_parties"),
    ("[voice]\nmax_calls_per_s = -1\n", {}, "voice.max_calls_per_s"),
    ("[cluster]\nnode_timeout_s = 5.0\n", {}, "cluster.node_timeout_s"),
    ("[sites]\nlegs_from = 'nearest'\n", {}, "sites.legs_from"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(f, env=env)


def test_callbacks_section_is_read_and_the_environment_overrides_it(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[callbacks]\ncarrier_outbound = "10.0.0.5:5060"\ndefer_s = 7\nip_burst = 9\n')
    cfg = load(f, env={"CCARI_CALLBACKS_DEFER_S": "3.5"})
    assert cfg.callbacks.carrier_outbound == "10.0.0.5:5060"
    assert cfg.callbacks.ip_burst == 9
    assert cfg.callbacks.defer_s == 3.5  # the environment wins over the file
    assert cfg.callbacks.outbound_host(cfg.pbx) == "10.0.0.5:5060"
    assert Config().callbacks.outbound_host(Config().pbx) == "127.0.0.2:5060"


@pytest.mark.parametrize(("text", "env", "key"), [
    ("[callbacks]\ndefer = 5\n", {}, "callbacks.defer"),
    ("[callbacks]\ncarrier_outbound = 'carrier'\n", {}, "callbacks.carrier_outbound"),
    ("", {"CCARI_CALLBACKS_CARRIER_OUTBOUND": "10.0.0.5"}, "callbacks.carrier_outbound"),
    ("", {"CCARI_CALLBACKS_PROMPT_PLAYS": "two"}, "callbacks.prompt_plays"),
    ("[callbacks]\nip_burst = 0\n", {}, "callbacks.ip_burst"),
    ("[callbacks]\ntrunk = 'a b'\n", {}, "callbacks.trunk"),
])
def test_bad_callbacks_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str],
                                           key: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(f, env=env)

"""Kamailio's configuration rendered from ``[edge]``, checked by Kamailio itself, and the
settings that cannot make one refused at start-up."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from ccari.__main__ import main
from ccari.config import Config, DatabaseConfig, EdgeConfig, SecurityConfig, load
from ccari.edge.render import EdgeRenderError, kamailio_db_url, render_text, write
from ccari.errors import ConfigError
from tests.support.kamailio import check_config

PG = "postgresql+asyncpg://ccari:s3cret@db.example:5433/ccari"
KEY = "Zm9vYmFy-key_0123456789"


def edge_config(**changes: object) -> Config:
    return Config(database=DatabaseConfig(url=PG),
                  edge=replace(EdgeConfig(enabled=True, rpc_key=KEY), **changes))  # type: ignore[arg-type]


def test_the_rendered_config_is_what_kamailio_takes(tmp_path: Path) -> None:
    path = write(edge_config(probe_s=3, timeout_ms=800, carriers=("127.0.0.0/8", "10.1.0.0/16")),
                 tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the database password and key are in it
    text = path.read_text()
    for line in ('listen=udp:127.0.0.2:5080', 'listen=tcp:127.0.0.1:5081',
                 'version_table="edge_version"',
                 'modparam("dispatcher", "table_name", "edge_dispatcher")',
                 'modparam("dispatcher", "db_url", "postgres://ccari:s3cret@db.example:5433/ccari")',
                 'modparam("dispatcher", "ds_ping_interval", 3)',
                 'modparam("dispatcher", "ds_probing_mode", 1)',
                 'modparam("tm", "fr_timer", 800)',
                 'ds_select_dst("1", "11")', 'record_route();', 'loose_route()',
                 'ds_next_dst()', 'ds_mark_dst("ip")', 'send_reply("503"',
                 'jsonrpc_dispatch();', 'is_in_subnet("$si", "127.0.0.0/8,10.1.0.0/16")',
                 f'if ($hdr(Authorization) != "Bearer {KEY}")'):
        assert line in text, line
    result = check_config(path)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_phones_registrar_is_rendered_with_its_guard(tmp_path: Path) -> None:
    cfg = replace(edge_config(phones=True),
                  security=SecurityConfig(max_failures=4, window_s=30, block_s=300,
                                          allow=("10.9.0.0/16",)))
    text = write(cfg, tmp_path).read_text()
    for line in ('loadmodule "registrar.so"', 'modparam("usrloc", "db_mode", 1)',
                 'modparam("usrloc", "db_url", "postgres://ccari:s3cret@db.example:5433/ccari")',
                 'modparam("auth_db", "db_url", "postgres://ccari:s3cret@db.example:5433/ccari")',
                 'auth_check("$fd", "edge_phones", "1");', 'save("edge_location", "0x04")',
                 'ds_is_from_list("1", "2")', 'lookup("edge_location")',
                 '"authfail=>size=8;autoexpire=30;"', '"blocked=>size=8;autoexpire=300;"',
                 '$var(failures) >= 4', 'is_in_subnet("$si", "10.9.0.0/16")'):
        assert line in text, line
    result = check_config(tmp_path / "kamailio.cfg")
    assert result.returncode == 0, result.stderr[-3000:]
    unguarded = render_text(cfg.edge, PG, security=SecurityConfig(enabled=False))
    assert "lookup(\"edge_location\")" in unguarded and "blocked" not in unguarded
    assert "registrar" not in render_text(EdgeConfig(enabled=True, rpc_key=KEY), PG)


def test_the_database_url_as_kamailio_takes_it() -> None:
    assert kamailio_db_url("postgresql+asyncpg://ccari@127.0.0.1:5432/t1") == \
        "postgres://ccari@127.0.0.1:5432/t1"
    assert kamailio_db_url("postgresql+asyncpg://u:p%40ss@h/db") == "postgres://u:p%40ss@h:5432/db"
    with pytest.raises(EdgeRenderError):
        kamailio_db_url("sqlite+aiosqlite:///var/ccari.db")


def test_a_config_without_the_nodes_rpc_key_is_not_rendered() -> None:
    """Kamailio's RPC never runs without the key (nor with one that would break its
    config's quoting)."""
    for key in ("", "short-key", 'a-key-of-length-16"; exit;'):
        with pytest.raises(EdgeRenderError, match="edge.rpc_key"):
            render_text(EdgeConfig(enabled=True, rpc_key=key), PG)


def test_listen_and_rpc_on_one_port_are_refused() -> None:
    with pytest.raises(EdgeRenderError, match="different ports"):
        render_text(EdgeConfig(listen="udp:127.0.0.1:5081", rpc_url="http://127.0.0.1:5081/RPC",
                               rpc_key=KEY), PG)


@pytest.fixture(autouse=True)
def logging_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command run in this process must not reconfigure its logging (it would take the
    root handlers from under the other tests, the secret watch's among them)."""
    monkeypatch.setattr("ccari.logs.configure", lambda level, fmt: None)


def test_ccari_edge_render_writes_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "ccari.toml"
    conf.write_text(f'state_dir = "{tmp_path}/var"\n[database]\nurl = "{PG}"\n'
                    '[edge]\nenabled = true\nlisten = "udp:10.0.0.5:5060"\n'
                    f'rpc_key = "{KEY}"\n')
    monkeypatch.delenv("CCARI_CONFIG", raising=False)
    assert main(["--config", str(conf), "edge", "render", "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "kamailio.cfg").read_text()
    assert "listen=udp:10.0.0.5:5060" in text and "sip:edge@10.0.0.5" in text
    assert "kamailio -DD -E -f" in capsys.readouterr().out


def test_ccari_edge_render_without_postgresql_says_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCARI_CONFIG", raising=False)
    monkeypatch.setenv("CCARI_STATE_DIR", str(tmp_path / "var"))
    assert main(["edge", "render", "--out", str(tmp_path / "out")]) == 2
    assert "needs a postgresql database.url" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("env", "error"), [
    ({"CCARI_EDGE_ENABLED": "1", "CCARI_EDGE_RPC_KEY": KEY}, "needs a postgresql"),
    ({"CCARI_DATABASE_URL": PG, "CCARI_EDGE_ENABLED": "1"}, "edge.rpc_key"),
    ({"CCARI_EDGE_RPC_KEY": "short"}, "edge.rpc_key"),
    ({"CCARI_EDGE_RPC_KEY": "sixteen-or-more \" chars"}, "edge.rpc_key"),
    ({"CCARI_EDGE_LISTEN": "tcp:127.0.0.2:5080"}, "edge.listen"),
    ({"CCARI_EDGE_RPC_URL": "https://127.0.0.1:5081/RPC"}, "edge.rpc_url"),
    ({"CCARI_EDGE_DESTINATION": "10.0.0.7:5060"}, "edge.destination"),
    ({"CCARI_EDGE_PROBE_S": "0"}, "edge.probe_s"),
    ({"CCARI_EDGE_PROBE_S": "1", "CCARI_EDGE_TIMEOUT_MS": "1000"}, "below probe_s"),
    ({"CCARI_EDGE_NODE_CAPACITY": "0"}, "node_capacity"),
    ({"CCARI_EDGE_CARRIERS": "10.0.0.0/33"}, "edge.carriers"),
    ({"CCARI_EDGE_RPC_CLIENTS": "10.0.0.0/33"}, "edge.rpc_clients"),
    ({"CCARI_EDGE_RPC_CLIENTS": ""}, "edge.rpc_clients"),
    ({"CCARI_EDGE_PHONES": "1"}, "edge.phones needs edge.enabled"),
])
def test_edge_settings_that_cannot_work_are_refused(env: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load(None, env=env)


def test_edge_settings_from_the_environment() -> None:
    cfg = load(None, env={"CCARI_DATABASE_URL": PG, "CCARI_EDGE_ENABLED": "yes",
                          "CCARI_EDGE_DESTINATION": "sip:10.0.0.7:5060",
                          "CCARI_EDGE_NODE_CAPACITY": "60", "CCARI_EDGE_RPC_KEY": KEY})
    assert cfg.edge.enabled and cfg.edge.destination == "sip:10.0.0.7:5060"
    assert cfg.edge.node_capacity == 60

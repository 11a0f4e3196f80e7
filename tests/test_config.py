"""Typed config: defaults, file, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccari.config import Config, load
from ccari.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_sample_file_is_valid_and_equals_the_defaults() -> None:
    assert load(ROOT / "ccari.sample.toml", env={}) == Config()


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[web]\ninternal_port = 9000\n[pbx]\ncarrier_match = ["10.0.0.1"]\n')
    cfg = load(f, env={"CCARI_WEB_INTERNAL_PORT": "9100", "CCARI_PBX_CARRIER_MATCH": "10.0.0.2,10.0.0.3"})
    assert cfg.web.internal_port == 9100
    assert cfg.pbx.carrier_match == ("10.0.0.2", "10.0.0.3")


@pytest.mark.parametrize(("text", "env", "key"), [
    ("[web]\ninternal_port = 'x'\n", {}, "web.internal_port"),
    ("[web]\nintrenal_port = 1\n", {}, "web.intrenal_port"),
    ("", {"CCARI_PBX_HOST": "0.0.0.0"}, "pbx.host"),
    ("", {"CCARI_DATABASE_URL": "mysql://x"}, "database.url"),
    ("", {"CCARI_WEB_PUBLIC_PORT": "8080"}, "must differ"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(f, env=env)

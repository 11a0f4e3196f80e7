"""ccari's systemd unit example (``asterisk/systemd/ccari.service.example``) is one that
systemd loads without a warning, with its restart policy and hardening in place.

``systemd-analyze verify`` (Debian's ``systemd`` package, in the README's test command) checks
every key and that ExecStart= can run: the unit's ``/opt/ccari`` is this checkout here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "asterisk" / "systemd" / "ccari.service.example"


def _keys(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values (not INI: a key may repeat)"""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(section, {}).setdefault(key, []).append(value)
    return out


def _verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    unit = tmp_path / "ccari.service"
    unit.write_text(text.replace("/opt/ccari", str(ROOT)))
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_unit_loads_without_a_warning(tmp_path: Path) -> None:
    done = _verify(tmp_path, UNIT.read_text())
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def test_verify_would_catch_a_misspelt_key_or_a_missing_command(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert "Unknown key 'Restrat'" in _verify(
        tmp_path, text.replace("\nRestart=always", "\nRestrat=always")).stderr
    assert _verify(tmp_path, text.replace("/opt/ccari/.venv/bin/ccari", "/nowhere/ccari")
                   ).returncode != 0


@pytest.mark.parametrize(("section", "key", "value"), [
    ("Unit", "After", "network-online.target asterisk.service postgresql.service"),
    ("Unit", "Wants", "network-online.target asterisk.service postgresql.service"),
    ("Unit", "StartLimitIntervalSec", "0"),
    ("Service", "User", "ccari"),
    ("Service", "Restart", "always"),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "ProtectSystem", "strict"),
    ("Service", "PrivateTmp", "yes"),
    ("Service", "ProtectHome", "yes"),
    ("Service", "CapabilityBoundingSet", ""),
    ("Service", "ReadWritePaths", "/var/lib/ccari -/etc/asterisk/ccari -/var/spool/asterisk/fax"),
    ("Service", "Environment", "CCARI_PBX_MODE=external"),
])
def test_restart_policy_and_hardening(section: str, key: str, value: str) -> None:
    assert value in _keys(UNIT.read_text())[section][key]


def test_the_state_directory_is_the_one_ccari_writes() -> None:
    service = _keys(UNIT.read_text())["Service"]
    assert "CCARI_STATE_DIR=/var/lib/ccari" in service["Environment"]
    assert service["StateDirectory"] == ["ccari"]

"""Secrets, mounts, the safety of deleting a half-built root, and a test run's own instances
cleaned up (no Asterisk needed)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from ccari.pbx import load_or_create_secrets
from ccari.pbx.runtime import Runtime, mounts_under, remove_tree
from tests.support import pbx as support


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path / "demo")
    assert set(first) == {"ari_user", "ari_password", "ami_user", "ami_secret"}
    assert len(first["ari_password"]) >= 24 and first["ari_password"] != first["ami_secret"]
    path = tmp_path / "demo" / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secrets(tmp_path / "demo") == first


def test_secrets_file_made_readable_is_tightened(tmp_path: Path) -> None:
    load_or_create_secrets(tmp_path)
    (tmp_path / "secrets.json").chmod(0o644)
    load_or_create_secrets(tmp_path)
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_removing_a_root_never_deletes_through_a_bind_mount(tmp_path: Path) -> None:
    precious = tmp_path / "host-dev"
    precious.mkdir()
    (precious / "keep").write_text("host data")
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(precious), str(root / "dev")], check=True, timeout=10)
    try:
        assert mounts_under(root) == [root / "dev"]
        remove_tree(root)
    finally:
        subprocess.run(["umount", str(root / "dev")], capture_output=True, timeout=10)
    assert not root.exists()
    assert (precious / "keep").read_text() == "host data"


def test_a_passing_run_deletes_only_its_own_stopped_instances(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "find_runtime", lambda: Runtime(tmp_path, chroot=True))
    base = tmp_path / "srv" / "ccari"
    pid = os.getpid()
    names = {"voice": f"voice{pid}", "other": f"voice{pid}7", "demo": "demo",
             "running": f"tls{pid}"}
    for name in names.values():
        (base / name / "log").mkdir(parents=True)
        (base / name / "log" / "messages.log").write_text("what Asterisk saw")
    # The live instance: its pidfile names a live Asterisk of that instance's configuration.
    monkeypatch.setattr(support, "pid_of", lambda paths: 4242 if paths.name == names["running"]
                        else None)

    assert support.remove_own_instances() == [names["voice"]]
    assert sorted(p.name for p in base.iterdir()) == sorted(
        [names["other"], names["demo"], names["running"]])

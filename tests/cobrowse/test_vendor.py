"""The rrweb build ccari serves is the one web/package-lock.json pins, unchanged."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "ccari" / "web" / "static" / "vendor" / "rrweb"
FILES = {"rrweb.min.js": "umd/rrweb.min.js", "rrweb.min.css": "dist/style.min.css"}


def test_vendored_rrweb_is_the_locked_version() -> None:
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/rrweb"]["version"]
    assert version.startswith("2.")
    assert (VENDOR / "VERSION").read_text().startswith(f"rrweb {version} (MIT)")
    assert "MIT License" in (VENDOR / "LICENSE.txt").read_text()
    js = (VENDOR / "rrweb.min.js").read_text()
    assert 'g["rrweb"] = f()' in js  # the UMD build: window.rrweb in a browser


def test_vendored_files_match_the_installed_package_when_installed() -> None:
    """After ``npm ci`` in web/, ``npm run vendor`` must have been run (and committed)."""
    package = ROOT / "web" / "node_modules" / "rrweb"
    if not package.exists():
        return  # no node_modules on this machine: the first test still pins the version
    assert json.loads((package / "package.json").read_text())["version"] in (VENDOR / "VERSION").read_text()
    for ours, theirs in FILES.items():
        assert (VENDOR / ours).read_bytes() == (package / theirs).read_bytes(), ours

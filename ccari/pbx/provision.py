"""Install Asterisk 22: from the host's apt if it offers 22.x, else in a Debian sid root.

Idempotent and cached: a marker file written last records a finished root, so a second
run returns at once; a root without it (an interrupted build) is deleted and rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from ccari.pbx.errors import ProvisionError
from ccari.pbx.runtime import (
    CLEAN_ENV,
    MARKER,
    Runtime,
    default_root,
    host_asterisk_version,
    release_mounts,
    remove_tree,
    run,
)

log = logging.getLogger(__name__)

#: Bump when the recipe changes: older roots are then rebuilt.
RECIPE = 1
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm", "sip-tester")
HOST_PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm", "asterisk-moh-opsound-gsm")
APT_CONF = """// Written by ccari: sid's Release file may carry an expired Valid-Until.
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
"""
POLICY_RC = "#!/bin/sh\n# Written by ccari: never start services inside this root.\nexit 101\n"


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ProvisionError("provisioning installs packages and uses chroot: run it as root")


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def host_candidate() -> str:
    """The candidate version of the host's apt ``asterisk`` package ('' if none)."""
    if not shutil.which("apt-cache"):
        return ""
    out = run(["apt-cache", "policy", "asterisk"], timeout=60, what="apt-cache", check=False)
    m = re.search(r"Candidate:\s*(\S+)", out.stdout)
    if not m or m.group(1) == "(none)":
        return ""
    return m.group(1).split(":", 1)[-1]  # drop the epoch


def read_marker(root: Path) -> dict[str, object] | None:
    try:
        data = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("recipe") == RECIPE else None


def provision(
    root: Path | None = None,
    *,
    mode: str = "auto",
    mirror: str | None = None,
    timeout: float = 1800.0,
) -> Runtime:
    """Make sure an Asterisk 22 is installed and return where it is.

    ``mode``: ``auto`` (host package if apt offers 22.x, else chroot), ``host`` or
    ``chroot``. Safe to call concurrently (a lock file serialises builds).
    """
    root = root or default_root()
    if mode not in ("auto", "host", "chroot"):
        raise ProvisionError(f"unknown provisioning mode {mode!r} (auto, host or chroot)")
    if mode in ("auto", "chroot") and read_marker(root):
        log.info("Asterisk root %s is ready (cached)", root)
        return Runtime(root, chroot=True)
    if mode in ("auto", "host"):
        if host_asterisk_version().startswith("22."):
            return Runtime(Path("/"), chroot=False)
        if host_candidate().startswith("22.") or mode == "host":
            return _provision_host()
    return _provision_chroot(root, mirror or os.environ.get("CCARI_DEBIAN_MIRROR") or MIRROR, timeout)


def _provision_host() -> Runtime:
    _require_root()
    log.info("installing Asterisk from the host's apt")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], timeout=600, what="apt-get update", error=ProvisionError, env=env)
    run(
        ["apt-get", "install", "-y", "--no-install-recommends", *HOST_PACKAGES],
        timeout=1200, what="apt-get install asterisk", error=ProvisionError, env=env,
    )  # fmt: skip
    version = host_asterisk_version()
    if not version.startswith("22."):
        raise ProvisionError(f"host apt installed Asterisk {version!r}, ccari needs 22.x")
    return Runtime(Path("/"), chroot=False)


def _provision_chroot(root: Path, mirror: str, timeout: float) -> Runtime:
    _require_root()
    with _lock(root.with_name(root.name + ".lock")):
        if read_marker(root):  # built by someone else while we waited
            return Runtime(root, chroot=True)
        started = time.monotonic()
        partial = root.with_name(root.name + ".partial")
        for leftover in (partial, root):
            if leftover.exists():
                log.warning("removing unfinished or outdated Asterisk root %s", leftover)
                remove_tree(leftover)
        _ensure_debootstrap()
        log.info("debootstrap sid into %s (mirror %s)", partial, mirror)
        run(
            ["debootstrap", "--variant=minbase", "--include=ca-certificates", "sid",
             str(partial), mirror],
            timeout=timeout, what="debootstrap", error=ProvisionError,
        )  # fmt: skip
        (partial / "etc/apt/apt.conf.d/99ccari").write_text(APT_CONF)
        policy = partial / "usr/sbin/policy-rc.d"
        policy.write_text(POLICY_RC)
        policy.chmod(0o755)
        shutil.copyfile("/etc/resolv.conf", partial / "etc/resolv.conf")
        chroot = ["chroot", str(partial)]
        run([*chroot, "apt-get", "update"], timeout=600, what="apt-get update in the root",
            error=ProvisionError, env=CLEAN_ENV)  # fmt: skip
        run(
            [*chroot, "apt-get", "install", "-y", *_available(partial)],
            timeout=timeout, what="apt-get install asterisk in the root",
            error=ProvisionError, env=CLEAN_ENV,
        )  # fmt: skip
        run([*chroot, "apt-get", "clean"], timeout=120, what="apt-get clean", env=CLEAN_ENV)
        out = run([*chroot, "asterisk", "-V"], timeout=30, what="asterisk -V",
                  error=ProvisionError, env=CLEAN_ENV).stdout.split()  # fmt: skip
        version = out[1] if len(out) > 1 else ""
        if not version.startswith("22."):
            raise ProvisionError(f"sid installed Asterisk {version!r}; ccari needs 22.x")
        marker = {
            "recipe": RECIPE,
            "asterisk": version,
            "mirror": mirror,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.monotonic() - started, 1),
        }
        (partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        release_mounts(partial)  # debootstrap may leave /proc or /sys mounted
        partial.rename(root)
        log.info("Asterisk %s ready in %s after %.0fs", version, root, marker["seconds"])
        return Runtime(root, chroot=True)


def _available(root: Path) -> list[str]:
    """PACKAGES that the root's apt knows (asterisk-moh-opsound-gsm may be absent)."""
    wanted = []
    for pkg in PACKAGES:
        out = run(["chroot", str(root), "apt-cache", "policy", pkg], timeout=60,
                  what="apt-cache policy", env=CLEAN_ENV, check=False).stdout  # fmt: skip
        if re.search(r"Candidate:\s*(?!\(none\))\S+", out):
            wanted.append(pkg)
        elif pkg in ("asterisk", "asterisk-core-sounds-en-gsm"):
            raise ProvisionError(f"Debian sid offers no {pkg}; check the mirror")
        else:
            log.warning("Debian sid offers no %s; skipping it", pkg)
    return wanted


def _ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    log.info("installing debootstrap on the host")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], timeout=600, what="apt-get update", error=ProvisionError, env=env)
    run(["apt-get", "install", "-y", "debootstrap"], timeout=600,
        what="apt-get install debootstrap", error=ProvisionError, env=env)  # fmt: skip

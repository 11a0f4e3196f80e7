"""Where Asterisk lives: a Debian sid root used with chroot, or the host itself.

Also the bind mounts a chroot needs (/proc, /dev) and a helper to run commands with a
timeout and an actionable error.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ccari.pbx.errors import NotProvisionedError, PbxError

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/var/cache/ccari/sid-root")
MARKER = ".ccari-provisioned"
CHROOT_MOUNTS = ("proc", "dev")
#: PATH inside the root; the host's (a virtualenv...) means nothing there.
CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "HOME": "/root",
}


def default_root() -> Path:
    """The cached sid root: ``$CCARI_PBX_ROOT`` or /var/cache/ccari/sid-root."""
    return Path(os.environ.get("CCARI_PBX_ROOT") or DEFAULT_ROOT)


@dataclass(frozen=True)
class Runtime:
    """An installed Asterisk: ``root`` is ``/`` on the host, else a chroot directory."""

    root: Path
    chroot: bool

    def command(self, *args: str) -> list[str]:
        return ["chroot", str(self.root), *args] if self.chroot else list(args)

    def host_path(self, inner: PurePosixPath | str) -> Path:
        """The host path of a path as Asterisk sees it."""
        rel = str(inner).lstrip("/")
        return self.root / rel if self.chroot else Path("/") / rel

    @property
    def sounds_dir(self) -> Path:
        return self.host_path("/usr/share/asterisk/sounds")


def find_runtime(root: Path | None = None) -> Runtime:
    """The provisioned Asterisk; raises :class:`NotProvisionedError` if there is none.

    ``$CCARI_PBX_INSTALL`` may force ``chroot`` or ``host``.
    """
    mode = os.environ.get("CCARI_PBX_INSTALL", "auto")
    root = root or default_root()
    if mode in ("auto", "chroot") and (root / MARKER).exists():
        return Runtime(root, chroot=True)
    if mode in ("auto", "host") and host_asterisk_version().startswith("22."):
        return Runtime(Path("/"), chroot=False)
    raise NotProvisionedError(
        f"no Asterisk 22 found (no {root / MARKER}, none on the host): "
        "run `python -m ccari.pbx provision` (as root) first"
    )


def host_asterisk_version() -> str:
    """Version of an ``asterisk`` installed on the host, or ''."""
    exe = shutil.which("asterisk") or "/usr/sbin/asterisk"
    if not os.path.exists(exe):
        return ""
    try:
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    # "Asterisk 22.10.1+dfsg..." -> "22.10.1+dfsg..."
    parts = out.split()
    return parts[1] if len(parts) >= 2 and parts[0] == "Asterisk" else ""


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    what: str,
    error: type[PbxError] = PbxError,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a timeout; on failure raise ``error`` with the output's tail."""
    log.debug("running %s", " ".join(argv))
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise error(f"{what} timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    except OSError as exc:
        raise error(f"{what} could not run {argv[0]}: {exc}") from exc
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise error(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
    return proc


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path``, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path.resolve()).rstrip("/")
    found: list[Path] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


@contextlib.contextmanager
def root_lock(rt: Runtime) -> Iterator[None]:
    """Serialise mounting/unmounting between processes sharing a chroot root."""
    if not rt.chroot:
        yield
        return
    lock = rt.host_path("/srv/ccari/.mounts.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def ensure_mounts(rt: Runtime) -> None:
    """Bind-mount /proc and /dev into a chroot root, once."""
    if not rt.chroot:
        return
    present = set(mounts_under(rt.root))
    for name in CHROOT_MOUNTS:
        target = (rt.root / name).resolve()
        if target in present:
            continue
        target.mkdir(exist_ok=True)
        run(["mount", "--bind", f"/{name}", str(target)], timeout=30, what=f"bind-mount /{name}")
        log.info("mounted /%s on %s", name, target)


def release_mounts(root: Path) -> list[Path]:
    """Unmount everything below ``root``; returns what could not be unmounted."""
    for point in mounts_under(root):
        proc = run(["umount", str(point)], timeout=30, what="umount", check=False)
        if proc.returncode != 0:
            log.warning("umount %s failed (%s); detaching it lazily", point, proc.stderr.strip())
            run(["umount", "-l", str(point)], timeout=30, what="umount -l", check=False)
        else:
            log.info("unmounted %s", point)
    return mounts_under(root)


def remove_tree(path: Path) -> None:
    """Delete a (possibly half-built) root, never following a bind mount into the host."""
    if not path.exists():
        return
    left = release_mounts(path)
    if left:
        raise PbxError(f"cannot delete {path}: still mounted: {left}; unmount them by hand")
    run(["rm", "-rf", "--one-file-system", str(path)], timeout=600, what=f"delete {path}")

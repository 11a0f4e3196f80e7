"""The PBX credentials of an instance: generated once, kept in a 0600 file, reused after."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from pathlib import Path

from ccari.pbx.errors import PbxError

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"
DEFAULT_STATE = Path("/var/lib/ccari/pbx")
KEYS = ("ari_user", "ari_password", "ami_user", "ami_secret")


def default_state_dir(instance: str) -> Path:
    """``$CCARI_PBX_STATE/<instance>`` (default /var/lib/ccari/pbx/<instance>).

    Kept outside the Asterisk root, which is a disposable cache.
    """
    return Path(os.environ.get("CCARI_PBX_STATE") or DEFAULT_STATE) / instance


def load_or_create_secrets(state_dir: Path) -> dict[str, str]:
    """Return ``{ari_user, ari_password, ami_user, ami_secret}`` for the instance.

    The first call generates them (``secrets.token_urlsafe``) into ``state_dir/secrets.json``
    with mode 0600; later calls read the same file. Missing keys are added, existing kept.
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(state_dir / ".secrets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes starting at once get the same values
        return _load_or_create(state_dir / SECRETS_FILE)


def _load_or_create(path: Path) -> dict[str, str]:
    data: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
        except ValueError as exc:
            raise PbxError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc
        if not isinstance(loaded, dict):
            raise PbxError(f"{path} must hold a JSON object; fix or delete it")
        data = {str(k): str(v) for k, v in loaded.items()}
        if path.stat().st_mode & 0o077:
            log.warning("%s was readable by others; setting mode 0600", path)
            path.chmod(0o600)
    defaults = {
        "ari_user": "ccari",
        "ari_password": secrets.token_urlsafe(24),
        "ami_user": "ccari",
        "ami_secret": secrets.token_urlsafe(24),
    }
    missing = {k: v for k, v in defaults.items() if k not in data}
    if missing:
        data.update(missing)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
        log.info("generated PBX credentials %s in %s", sorted(missing), path)
    return data

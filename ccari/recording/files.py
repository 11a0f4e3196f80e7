"""Recording files in ccari's state dir: written once (whole or not at all, even across a
power loss: ``ccari.storage.files``), with their SHA-256, so a damaged one is seen."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ccari.storage.files import write_durably

DIR = "recordings"


def relative_path(tenant_id: int, name: str) -> str:
    return f"{DIR}/{tenant_id}/{name}.wav"


def write(state_dir: Path, relative: str, data: bytes) -> str:
    """Write the file durably; its SHA-256 (hex).  OSError (nothing left behind) if it cannot."""
    write_durably(state_dir / relative, data)
    return hashlib.sha256(data).hexdigest()


def read(state_dir: Path, relative: str, sha256: str) -> bytes | None:
    """The file, or None if it is missing or no longer matches its checksum."""
    try:
        data = (state_dir / relative).read_bytes()
    except FileNotFoundError:
        return None
    return data if hashlib.sha256(data).hexdigest() == sha256 else None


def intact(path: Path, sha256: str) -> bool:
    """Whether the file is there and still matches its checksum (read in chunks: a long
    call's recording is not read into memory at once)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        return False
    return digest.hexdigest() == sha256


def remove(state_dir: Path, relative: str) -> None:
    (state_dir / relative).unlink(missing_ok=True)

"""Recording files in ccari's state dir: written once (temporary name, fsync, rename), with
their SHA-256, so a crash leaves either the whole file or none, and a damaged one is seen."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

DIR = "recordings"


def relative_path(tenant_id: int, name: str) -> str:
    return f"{DIR}/{tenant_id}/{name}.wav"


def write(state_dir: Path, relative: str, data: bytes) -> str:
    """Write the file durably; its SHA-256 (hex).  OSError (nothing left behind) if it cannot."""
    path = state_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError:  # e.g. the disk full: no half-written file left taking the space
        tmp.unlink(missing_ok=True)
        raise
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

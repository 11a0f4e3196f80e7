"""A SQLite database made unwritable under a running ccari: its file, its WAL and their
directory immutable (``chattr +i``), which refuses writes even to root and through the files
ccari already has open (a plain ``chmod`` would not stop root).

Not its shared-memory index (``-shm``): SQLite writes it through a mapping on every
transaction, reads included, and the kernel answers a write to a mapped page of an
immutable file with SIGBUS, which kills the process; a file system that goes read-only
under a running SQLite in WAL mode would do the same, which no code of ccari can catch
(the reason to keep its database on a file system of its own, or on PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def unwritable(db: Path) -> Iterator[None]:
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("making a file immutable takes root and chattr")
    paths = [str(p) for p in (db, db.with_name(db.name + "-wal"), db.parent) if p.exists()]
    subprocess.run(["chattr", "+i", *paths], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *paths], check=True, capture_output=True)

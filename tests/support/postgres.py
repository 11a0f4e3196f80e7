"""A private PostgreSQL server for the test session (Debian's packages, run as 'postgres').

The tests start their own cluster in a temporary directory on a free port rather than
relying on whatever the machine runs; ``CCARI_TEST_PG_URL`` points them at an existing
server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found: apt-get install postgresql "
            "(the README's test command does it)"
        )
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, **kw)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an asyncpg SQLAlchemy URL to a fresh database; stop the server afterwards."""
    if os.environ.get("CCARI_TEST_PG_URL"):
        yield os.environ["CCARI_TEST_PG_URL"]
        return
    root = tempfile.mkdtemp(prefix="ccari-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    _as_postgres([_bin("initdb"), "-D", data, "-U", "ccari", "--auth=trust", "-E", "UTF8"])
    _as_postgres([_bin("pg_ctl"), "-D", data, "-l", os.path.join(root, "log"), "-w", "-t", "30",
                  "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start"])
    try:
        deadline = time.monotonic() + 30
        while True:  # pg_ctl -w already waited; createdb confirms it accepts connections
            try:
                _as_postgres([_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "ccari",
                              "ccari_test"])
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"postgresql+asyncpg://ccari@127.0.0.1:{port}/ccari_test"
    finally:
        subprocess.run(
            (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
            + [_bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)

"""The moving parts bench.resilience breaks: ccari as a process of its own, a TCP proxy in
front of Asterisk's HTTP (ARI) and AMI ports, a PostgreSQL server that can be stopped, and a
small file system for the recordings directory that can be filled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from ccari.config import Config
from tests.support.postgres import _as_postgres, _bin, _free_port
from tests.support.waits import eventually


class CcariProcess:
    """``python -m ccari run --no-demo --keep-pbx``: migrates, starts (or adopts) the managed
    Asterisk, supervises it and serves; configured by environment only."""

    def __init__(self, cfg: Config, env: dict[str, str]) -> None:
        p = cfg.pbx
        self.cfg = cfg
        self.env = {
            **os.environ,
            "CCARI_STATE_DIR": cfg.state_dir, "CCARI_DATABASE_URL": cfg.database.url,
            "CCARI_ADMIN_TOKEN": cfg.admin_token, "CCARI_WEB_SECRET_KEY": cfg.web.secret_key,
            "CCARI_WEB_INTERNAL_PORT": str(cfg.web.internal_port),
            "CCARI_WEB_PUBLIC_PORT": str(cfg.web.public_port),
            "CCARI_PBX_INSTANCE": p.instance, "CCARI_PBX_APP_NAME": p.app_name,
            "CCARI_PBX_HOST": p.host, "CCARI_PBX_SIP_PORT": str(p.sip_port),
            "CCARI_PBX_ARI_PORT": str(p.ari_port), "CCARI_PBX_AMI_PORT": str(p.ami_port),
            "CCARI_PBX_RTP_START": str(p.rtp_start), "CCARI_PBX_RTP_END": str(p.rtp_end),
            "CCARI_PBX_CARRIER_MATCH": ",".join(p.carrier_match),
            "CCARI_PBX_AGENT_QUALIFY_S": str(p.agent_qualify_s),
            "CCARI_SMTP_INTAKE_PORT": str(cfg.smtp.intake_port),
            "CCARI_LOG_LEVEL": os.environ.get("CCARI_BENCH_LOG_LEVEL", "WARNING"),
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.log = Path(cfg.state_dir) / "ccari-process.log"
        self.base = f"http://127.0.0.1:{cfg.web.internal_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    async def start(self, within_s: float = 90.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:  # a pipe nobody reads would block ccari once full
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ccari", "run", "--no-demo", "--keep-pbx", env=self.env,
                stdout=asyncio.subprocess.DEVNULL, stderr=log)
        await eventually(self.healthy, within_s, "ccari to serve")

    async def healthy(self) -> bool:
        if self.proc is None or self.proc.returncode is not None:
            raise RuntimeError(f"ccari exited: {self.log.read_text()[-3000:]}")
        return await self.metric("ccari_ari_connected") == 1

    async def metric(self, name: str) -> float | None:
        """One series of ``GET /metrics`` (None: ccari does not answer)."""
        try:
            async with aiohttp.ClientSession() as s, s.get(
                    f"{self.base}/metrics", timeout=aiohttp.ClientTimeout(total=2)) as r:
                text = await r.text()
        except (aiohttp.ClientError, TimeoutError):
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                await self.kill()


class TcpProxy:
    """Forwards ``listen_host:port`` to ``127.0.0.1:port`` for each port; :meth:`cut` closes
    every connection through one port and refuses new ones until :meth:`restore`."""

    def __init__(self, listen_host: str, ports: tuple[int, ...]) -> None:
        self.host = listen_host
        self.ports = ports
        self._servers: dict[int, asyncio.Server] = {}
        self._conns: dict[int, set[asyncio.StreamWriter]] = {p: set() for p in ports}

    async def start(self) -> None:
        for port in self.ports:
            await self._listen(port)

    async def _listen(self, port: int) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                writer.close()
                return
            pair = {writer, up_w}
            self._conns[port] |= pair
            try:
                await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
            finally:
                self._conns[port] -= pair
                for w in pair:
                    w.close()

        self._servers[port] = await asyncio.start_server(accept, self.host, port)

    async def cut(self, port: int) -> None:
        server = self._servers.pop(port)
        server.close()
        for w in list(self._conns[port]):
            w.transport.abort()  # an RST to both sides: the connection is gone at once
        await server.wait_closed()

    async def restore(self, port: int) -> None:
        await self._listen(port)

    async def close(self) -> None:
        for port in list(self._servers):
            await self.cut(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


class Postgres:
    """A private PostgreSQL cluster (Debian's binaries, run as 'postgres') that can be
    stopped and started again on the same port and data."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="ccari-resilience-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        self.url = f"postgresql+asyncpg://ccari@127.0.0.1:{self.port}/ccari"

    def init(self) -> None:
        if os.geteuid() == 0:
            os.chown(self.root, *_ids("postgres"))
        _as_postgres([_bin("initdb"), "-D", self.data, "-U", "ccari", "--auth=trust", "-E", "UTF8"])
        self.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                _as_postgres([_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                              "ccari", "ccari"])
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def start(self) -> None:
        _as_postgres([_bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.root, "log"),
                      "-w", "-t", "30", "-o", f"-p {self.port} -k {self.root} "
                      "-c listen_addresses=127.0.0.1 -c fsync=off", "start"])

    def stop(self) -> None:
        """Stopped at once (``immediate``): the connections are cut, as by a crash."""
        _as_postgres([_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"])

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop()
        subprocess.run(["rm", "-rf", self.root], check=False)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


class SmallDisk:
    """A tmpfs of ``size_kb`` mounted on ``path`` (root only) that :meth:`fill` fills up to
    the last byte and :meth:`free` empties again (the operator deleting the culprit)."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        self.size_kb = size_kb
        self._filler = path / ".filler"

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_kb}k,mode=0755",
                        "ccari-recordings", str(self.path)], check=True, capture_output=True)

    def fill(self) -> None:
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096, 1):  # down to the last byte
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)

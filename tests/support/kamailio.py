"""A real Kamailio (Debian's package) for the tests: the SIP edge rendered by ccari, run in the
foreground with a run directory of its own, ready once its JSON-RPC answers, stopped at the
end (SIGTERM, then SIGKILL of its process group)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from ccari.edge.rpc import EdgeRpcError, EdgeUnreachable, KamailioRpc

RPC_KEY = "ccari-tests-edge-rpc-key"  # edge.rpc_key of the tests' Kamailio and nodes


class KamailioError(RuntimeError):
    """Kamailio did not start, or did not answer its RPC in time."""


def kamailio_binary() -> str:
    found = shutil.which("kamailio") or ("/usr/sbin/kamailio"
                                         if os.path.exists("/usr/sbin/kamailio") else None)
    if found is None:
        raise KamailioError("no kamailio: apt-get install kamailio kamailio-postgres-modules "
                            "(./ccari.sh test installs them)")
    return found


def check_config(config: Path) -> subprocess.CompletedProcess[str]:
    """``kamailio -c``: the configuration parses and its modules load."""
    return subprocess.run([kamailio_binary(), "-c", "-f", str(config)], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


class KamailioProcess:
    def __init__(self, config: Path, rundir: Path) -> None:
        self.config = config
        self.rundir = rundir
        self.log = rundir / "kamailio.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        self.rundir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                [kamailio_binary(), "-DD", "-E", "-m", "64", "-M", "8", "-f", str(self.config),
                 "-Y", str(self.rundir)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self.popen

    async def start(self, rpc: KamailioRpc, timeout_s: float = 20.0) -> None:
        """Start it and wait until its RPC answers."""
        popen = self.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if popen.poll() is not None:
                raise KamailioError(f"kamailio exited ({popen.returncode}):\n{self.tail()}")
            with contextlib.suppress(EdgeUnreachable, EdgeRpcError):
                await rpc.call("core.version")
                return
            if loop.time() > deadline:
                self.stop()
                raise KamailioError(f"kamailio's RPC not answering after {timeout_s}s:\n"
                                    f"{self.tail()}")
            await asyncio.sleep(0.05)

    def stop(self, timeout_s: float = 10.0) -> None:
        popen = self.popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout_s)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

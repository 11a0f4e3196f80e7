"""ccari's systemd unit under a real systemd: the unit example as shipped
(``asterisk/systemd/ccari.service.example``), installed the way its header says, started by
systemd, serving, restarted after a crash, stopped cleanly.

This box's own Debian is booted as a container (``systemd-nspawn``, Debian's
``systemd-container``) on a copy-on-write overlay of its root, so nothing on the machine
changes: systemd runs as the container's PID 1, with the checkout at ``/opt/ccari`` (read-only)
and a virtualenv made there with Debian's ``python3`` and ``pip install /opt/ccari`` (not
``-e``: what an admin does). ccari runs in external mode with no Asterisk up: it must serve
all the same (the web side works while its PBX is away) and retry the PBX.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.sipp import free_port

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "asterisk" / "systemd" / "ccari.service.example"
NSPAWN = "/usr/bin/systemd-nspawn"  # Debian's systemd-container (./ccari.sh test installs it)


def until(check: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``check`` until it returns something truthy (these are blocking commands)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Machine:
    """A booted container: commands run in it through ``nsenter``; its overlay's upper
    directory shows what was written."""

    init_pid: int
    upper: Path
    internal_port: int

    def run(self, *argv: str, timeout: float = 60) -> str:
        done = subprocess.run(["nsenter", "-t", str(self.init_pid), "-a", "--", *argv],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        return done.stdout

    def unit(self, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", "ccari", *(f"--property={p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self) -> str:
        return self.run("journalctl", "-u", "ccari", "--no-pager", "-n", "60")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.internal_port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(p) for p in (task / "children").read_text().split()]
    return out


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    tmp = tmp_path_factory.mktemp("systemd")
    upper, work, merged, venv = (tmp / d for d in ("up", "work", "root", "venv"))
    for d in (upper, work, merged, venv):
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir=/,upperdir={upper},workdir={work}", str(merged)], check=True)
    proc: subprocess.Popen[bytes] | None = None
    try:
        # The host's services and timers stay off in the container (it shares the host's
        # network): only systemd's own and ccari's run.
        for name in ("postgresql.service", "postgresql@.service", "nftables.service",
                     "kamailio.service",
                     "apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer",
                     "dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer",
                     "e2scrub_reap.service"):
            (merged / "etc/systemd/system" / name).unlink(missing_ok=True)
            (merged / "etc/systemd/system" / name).symlink_to("/dev/null")
        subprocess.run(["useradd", "-R", str(merged), "--system", "--home-dir",
                        "/var/lib/ccari", "--shell", "/usr/sbin/nologin", "ccari"], check=True)
        # The container shares this box's network: every port ccari listens on is a free one.
        ports = [free_port("127.0.0.1") for _ in range(5)]
        conf = merged / "etc/ccari/ccari.toml"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f'[web]\ninternal_port = {ports[0]}\npublic_port = {ports[1]}\n'
            f'[pbx]\nmode = "external"\nari_port = {ports[2]}\nami_port = {ports[3]}\n'
            'ari_user = "ccari"\nari_password = "ari-secret-for-the-unit"\n'
            'ami_user = "ccari"\nami_secret = "ami-secret-for-the-unit"\n'
            f'[smtp]\nintake_port = {ports[4]}\n')
        shutil.chown(conf, "root", _gid(merged, "ccari"))
        conf.chmod(0o640)
        shutil.copy(UNIT, merged / "etc/systemd/system/ccari.service")
        log = (tmp / "console.log").open("wb")
        proc = subprocess.Popen(
            [NSPAWN, "-D", str(merged), "-M", f"ccari-unit-{os.getpid()}", "--register=no",
             "--keep-unit", "--console=passive", f"--bind-ro={ROOT}:/opt/ccari",
             f"--bind={venv}:/opt/ccari/.venv", "-b"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        nspawn = proc.pid
        init = int(str(until(lambda: proc.poll() is None and _children(nspawn)
                             and _children(nspawn)[0], 30, "the container's systemd")))
        m = Machine(init, upper, ports[0])
        until(lambda: subprocess.run(
            ["nsenter", "-t", str(init), "-a", "--", "systemctl", "is-system-running"],
            capture_output=True, text=True, check=False).stdout.strip() in ("running", "degraded"),
            120, "the container to boot")
        # The install the unit's header gives, with Debian's python3 (not this box's venv).
        m.run("/usr/bin/python3", "-m", "venv", "/opt/ccari/.venv")
        m.run("sh", "-c", "mkdir /tmp/src && tar -C /opt/ccari --exclude=./.venv --exclude=./.git "
              "--exclude=./var -cf - . | tar -C /tmp/src -xf - && "
              "/opt/ccari/.venv/bin/pip install -q /tmp/src", timeout=900)
        m.run("systemctl", "daemon-reload")
        yield m
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # nspawn halts the container
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        subprocess.run(["umount", "-l", str(merged)], check=False)


def _gid(root: Path, group: str) -> int:
    for line in (root / "etc/group").read_text().splitlines():
        name, _, gid, _ = line.split(":", 3)
        if name == group:
            return int(gid)
    raise LookupError(group)


@pytest.mark.timeout(1200)
def test_systemd_starts_ccari_restarts_it_after_a_crash_and_stops_it_cleanly(
        machine: Machine) -> None:
    m = machine
    m.run("systemctl", "start", "ccari")
    until(m.healthy, 90, "ccari to serve under systemd (no Asterisk up)")
    first = m.unit("MainPID", "NRestarts")
    assert first["NRestarts"] == "0", m.journal()
    pid = first["MainPID"]
    # Run as its own user, hardened; its database and secrets in its state directory.
    assert m.run("ps", "-o", "user=", "-p", pid).strip() == "ccari"
    assert m.run("stat", "-c", "%U %a", "/var/lib/ccari").split() == ["ccari", "750"]
    assert (m.upper / "var/lib/ccari/ccari.db").exists()  # migrated there (CCARI_STATE_DIR)
    assert m.run("sh", "-c", f"grep NoNewPrivs /proc/{pid}/status").split()[-1] == "1"

    # A crash (kill -9): systemd starts it again, and it serves again.
    m.run("kill", "-9", pid)
    until(lambda: m.unit("NRestarts")["NRestarts"] == "1", 30, "systemd to restart ccari")
    until(m.healthy, 90, "the restarted ccari to serve")
    assert m.unit("MainPID")["MainPID"] not in ("0", pid)

    # A stop is clean: SIGTERM, ccari closes and exits 0 within the unit's stop timeout.
    m.run("systemctl", "stop", "ccari", timeout=60)
    after = m.unit("ActiveState", "Result", "ExecMainStatus")
    assert after == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, after
    assert not m.healthy()

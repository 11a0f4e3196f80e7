"""Start, stop, reload and query one Asterisk instance.

An instance lives in ``/srv/ccari/<instance>/{etc,run,spool,log,lib,cache}`` as Asterisk
sees it (inside the chroot root, if any), with its own asterisk.conf and ports; several
instances share one root. Asterisk runs in the foreground (``-f``) as a child of the
process that started it, in its own session; ``stop`` asks it to exit over the control
socket, then signals it, and reaps it when it is our child.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ccari.pbx.errors import CommandError, NotRunningError, PbxError, StartError, StopError
from ccari.pbx.probes import ari_probe, check_ports_free, udp_bound
from ccari.pbx.render import Dirs, project_root, render
from ccari.pbx.runtime import (
    CLEAN_ENV,
    Runtime,
    ensure_mounts,
    find_runtime,
    release_mounts,
    root_lock,
)
from ccari.pbx.spec import PbxSpec, validate

log = logging.getLogger(__name__)

INNER_BASE = PurePosixPath("/srv/ccari")
#: What a change of each rendered file needs (None: a restart).
RELOADS: dict[str, str | None] = {
    "pjsip.conf": "module reload res_pjsip.so",
    "ccari-pjsip.conf": "module reload res_pjsip.so",
    "extensions.conf": "dialplan reload",
    "dialplans/ccari.conf": "dialplan reload",
    "ari.conf": "module reload res_ari.so",
    "ccari-ari.conf": "module reload res_ari.so",
    "manager.conf": "manager reload",
    "ccari-manager.conf": "manager reload",
    "rtp.conf": "module reload res_rtp_asterisk.so",
    "musiconhold.conf": "moh reload",
    "logger.conf": "logger reload",
    "http.conf": "module reload http",
    "indications.conf": "module reload indications",
    "features.conf": "module reload features",
}


@dataclass(frozen=True)
class InstancePaths:
    runtime: Runtime
    name: str

    @property
    def inner(self) -> PurePosixPath:
        return INNER_BASE / self.name

    @property
    def host(self) -> Path:
        return self.runtime.host_path(self.inner)

    @property
    def dirs(self) -> Dirs:
        return Dirs.under(self.inner)

    @property
    def conf(self) -> str:
        return str(self.inner / "etc" / "asterisk.conf")

    @property
    def etc(self) -> Path:
        return self.host / "etc"

    @property
    def pidfile(self) -> Path:
        return self.host / "run" / "asterisk.pid"

    def asterisk(self, *args: str) -> list[str]:
        return self.runtime.command("asterisk", "-C", self.conf, *args)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("messages.log", "console.log"):
            path = self.host / "log" / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(out) or "(no Asterisk log yet)"


def instance_paths(instance: str, runtime: Runtime | None = None) -> InstancePaths:
    return InstancePaths(runtime or find_runtime(), instance)


@dataclass
class PbxProcess:
    """A running instance. ``popen`` is set when this process started (and will reap) it."""

    spec: PbxSpec
    paths: InstancePaths
    pid: int
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.spec.ports.ari}"

    def rx(self, command: str, timeout: float = 10.0) -> str:
        return _rx(self.paths, command, timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        return _stop(self.paths, timeout, self.popen)


@dataclass(frozen=True)
class PbxStatus:
    instance: str
    running: bool
    pid: int | None
    version: str
    uptime_s: int | None
    directory: Path


@contextlib.contextmanager
def _locked(paths: InstancePaths) -> Iterator[None]:
    paths.host.mkdir(parents=True, exist_ok=True)
    with open(paths.host / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def rx(instance: str, command: str, *, runtime: Runtime | None = None, timeout: float = 10.0) -> str:
    """Run one Asterisk CLI command on a running instance and return its output."""
    return _rx(instance_paths(instance, runtime), command, timeout)


def _rx(paths: InstancePaths, command: str, timeout: float) -> str:
    argv = paths.asterisk("-rx", command)  # one command per call: a second -rx replaces it
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout,
            env=CLEAN_ENV, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise CommandError(f"asterisk -rx {command!r} timed out after {timeout}s") from exc
    out = proc.stdout + proc.stderr
    if "Unable to connect to remote asterisk" in out:
        raise NotRunningError(
            f"instance {paths.name!r} is not running (no control socket under "
            f"{paths.host / 'run'}): start it with `python -m ccari.pbx start`"
        )
    if proc.returncode != 0:
        raise CommandError(f"asterisk -rx {command!r} failed (exit {proc.returncode}): {out}")
    return proc.stdout


def pid_of(paths: InstancePaths) -> int | None:
    """The pid in the pidfile if it is a live Asterisk of this instance."""
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid, paths.conf) else None


def _alive(pid: int, conf: str | None = None) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        return False  # a zombie has exited; only its parent can remove the entry
    return conf is None or conf.encode() in cmdline


def is_running(instance: str, runtime: Runtime | None = None) -> bool:
    return pid_of(instance_paths(instance, runtime)) is not None


def start(spec: PbxSpec, *, runtime: Runtime | None = None, timeout: float = 60.0) -> PbxProcess:
    """Render and start the instance, and wait until Asterisk, ARI and SIP are ready.

    Idempotent: if it already runs, the configuration is re-rendered and reloaded.
    """
    validate(spec)
    paths = instance_paths(spec.instance, runtime)
    with _locked(paths):
        pid = pid_of(paths)
        if pid is not None:
            log.info("instance %s already running (pid %d); reloading", spec.instance, pid)
            _reload(spec, paths)
            return PbxProcess(spec, paths, pid)
        check_ports_free(spec)
        install_sounds(paths.runtime)
        # spool/recording: ARI's stored recordings (overflow voicemail); spool/fax: received
        # faxes (ccari.fax) until ccari stores them.  Asterisk creates neither.
        for d in ("etc", "run", "spool", "spool/recording", "spool/fax", "log", "lib", "cache"):
            (paths.host / d).mkdir(parents=True, exist_ok=True)
        for stale in ("asterisk.pid", "asterisk.ctl"):
            (paths.host / "run" / stale).unlink(missing_ok=True)
        for name in ("messages.log", "console.log"):  # keep one previous run
            old = paths.host / "log" / name
            if old.exists():
                old.replace(old.with_name(name + ".1"))
        render(spec, paths.etc, paths.dirs)
        started = time.monotonic()
        failure: BaseException | None = None
        # Under the root lock, another instance's stop() cannot unmount /proc and /dev
        # between our mount and our pidfile.
        with root_lock(paths.runtime):
            ensure_mounts(paths.runtime)
            with open(paths.host / "log" / "console.log", "ab") as out:
                popen = subprocess.Popen(
                    paths.asterisk("-f"), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, env=CLEAN_ENV, start_new_session=True,
                )  # fmt: skip
            proc = PbxProcess(spec, paths, popen.pid, popen)
            try:
                _wait_ready(proc, started + timeout)
            except BaseException as exc:
                failure = exc
        if failure is not None:
            _stop(paths, 10.0, popen)
            raise failure
        log.info(
            "instance %s ready in %.2fs (pid %d, SIP %s:%d, ARI 127.0.0.1:%d)",
            spec.instance, time.monotonic() - started, popen.pid, spec.bind,
            spec.ports.sip, spec.ports.ari,
        )  # fmt: skip
        return proc


def _wait_ready(proc: PbxProcess, deadline: float) -> None:
    paths, spec = proc.paths, proc.spec

    def fail(why: str) -> StartError:
        return StartError(f"instance {spec.instance}: {why}\n{paths.log_tail()}")

    def check_alive() -> None:
        assert proc.popen is not None
        if proc.popen.poll() is not None:
            raise fail(f"Asterisk exited with status {proc.popen.returncode} while starting")

    while True:  # 1. the control socket answers and the core is fully booted
        check_alive()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise fail("Asterisk did not finish booting in time")
        try:
            _rx(paths, "core waitfullybooted", timeout=max(1.0, remaining))
            break
        except NotRunningError:
            time.sleep(0.05)  # the control socket is not there yet
    while True:  # 2. ARI answers with our credentials
        check_alive()
        status = ari_probe(spec, timeout=2.0)
        if status == 200:
            break
        if status == 401:
            raise fail(f"ARI on port {spec.ports.ari} refused the generated credentials")
        if time.monotonic() > deadline:
            raise fail(f"ARI on 127.0.0.1:{spec.ports.ari} not answering (last: {status})")
        time.sleep(0.05)
    if not udp_bound(spec.bind, spec.ports.sip):  # 3. the SIP transport is bound
        raise fail(f"PJSIP did not bind UDP {spec.bind}:{spec.ports.sip}")


def install_sounds(rt: Runtime) -> Path:
    """Copy the repository's ``sounds/*.wav`` to <sounds>/ccari/ (played as ``ccari/<name>``)."""
    dest = rt.sounds_dir / "ccari"
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted((project_root() / "sounds").glob("*.wav")):
        target = dest / src.name
        data = src.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
    return dest


def stop(instance: str, *, runtime: Runtime | None = None, timeout: float = 30.0) -> bool:
    """Stop the instance; returns whether it was running. Unmounts when the last one stops."""
    paths = instance_paths(instance, runtime)
    with _locked(paths):
        return _stop(paths, timeout, None)


def _stop(paths: InstancePaths, timeout: float, popen: subprocess.Popen[bytes] | None) -> bool:
    pid = popen.pid if popen is not None and popen.poll() is None else pid_of(paths)
    was_running = pid is not None
    if pid is not None:
        with contextlib.suppress(PbxError):
            _rx(paths, "core stop now", timeout=min(10.0, timeout))
        if not _wait_gone(pid, popen, timeout):
            for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                log.warning("Asterisk pid %d still running; sending %s", pid, sig.name)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                if _wait_gone(pid, popen, grace):
                    break
            else:
                raise StopError(f"Asterisk pid {pid} survived SIGKILL; check `ps {pid}`")
        log.info("instance %s stopped", paths.name)
    for stale in ("asterisk.pid", "asterisk.ctl"):
        (paths.host / "run" / stale).unlink(missing_ok=True)
    if paths.runtime.chroot:
        with root_lock(paths.runtime):
            if not any_running(paths.runtime):
                left = release_mounts(paths.runtime.root)
                if left:
                    log.warning("could not unmount %s", left)
    return was_running


def _wait_gone(pid: int, popen: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=0.05)  # also reaps it: no zombie left behind
                return True
        elif not _alive(pid):
            return True
        else:
            time.sleep(0.05)
        if time.monotonic() > deadline:
            return False


def instances(runtime: Runtime | None = None) -> list[str]:
    """Names of the instances that have a directory (running or not)."""
    base = (runtime or find_runtime()).host_path(INNER_BASE)
    return sorted(d.name for d in base.iterdir() if d.is_dir()) if base.is_dir() else []


def any_running(rt: Runtime) -> bool:
    base = rt.host_path(INNER_BASE)
    if not base.is_dir():
        return False
    return any(pid_of(InstancePaths(rt, d.name)) for d in base.iterdir() if d.is_dir())


def reload(spec: PbxSpec, *, runtime: Runtime | None = None) -> list[str]:
    """Re-render a running instance and reload what changed; returns the CLI commands run."""
    validate(spec)
    paths = instance_paths(spec.instance, runtime)
    with _locked(paths):
        if pid_of(paths) is None:
            raise NotRunningError(f"instance {spec.instance!r} is not running; start it")
        return _reload(spec, paths)


def _reload(spec: PbxSpec, paths: InstancePaths) -> list[str]:
    install_sounds(paths.runtime)
    changed = render(spec, paths.etc, paths.dirs)
    commands: list[str] = []
    for path in changed:
        name = path.relative_to(paths.etc).as_posix()
        cmd = RELOADS.get(name)
        if cmd is None:
            log.warning("%s changed: restart instance %s to apply it", name, spec.instance)
        elif cmd not in commands:
            commands.append(cmd)
    for cmd in commands:
        _rx(paths, cmd, timeout=30.0)
    if commands:
        log.info("instance %s reloaded: %s", spec.instance, ", ".join(commands))
    return commands


def status(instance: str, *, runtime: Runtime | None = None) -> PbxStatus:
    paths = instance_paths(instance, runtime)
    pid = pid_of(paths)
    version, uptime = "", None
    if pid is not None:
        with contextlib.suppress(PbxError):
            version = _rx(paths, "core show version", 5.0).split(" built")[0].strip()
            for line in _rx(paths, "core show uptime seconds", 5.0).splitlines():
                if line.startswith("System uptime:"):
                    uptime = int(line.split(":", 1)[1].strip() or 0)
    return PbxStatus(instance, pid is not None, pid, version, uptime, paths.host)

"""Run SIPp, a real SIP peer, from asyncio tests: callers from a carrier, agent phones.

Scenarios live in ``tests/sipp/``. Each declares its parameters and their defaults in a
comment line ``ccari-params: name=default ...``; ``${name}`` placeholders (also allowed in
attributes such as ``timeout=`` where SIPp takes no keyword) are replaced by the helper in a
private copy. SIPp's own ``-key`` keywords and ``-set`` variables are passed through too.

SIPp is the host's ``sipp`` (Debian ``sip-tester`` 3.6.1) when installed, else the 3.8.0
inside the PBX root (run with chroot); ``CCARI_SIPP=host|chroot`` forces one. Both send
RFC 4733 DTMF with ``<exec play_dtmf=...>`` using payload type 96, which the caller
scenarios offer as telephone-event.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ccari.pbx.probes import udp_bound

log = logging.getLogger(__name__)

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "sipp"
_PARAMS = re.compile(r"ccari-params:((?:\s+\w+=\S*)*)")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


class SippError(Exception):
    """SIPp could not be started, did not get ready, or did not finish in time."""


@dataclass(frozen=True)
class SippResult:
    returncode: int
    successful: int
    failed: int
    failures: Mapping[str, int]  # e.g. {"FailedUnexpectedMessage": 1}
    responses: Mapping[int, int]  # SIP responses received, by status code
    requests: Mapping[str, int]  # SIP requests received, by method
    errors: str  # tail of SIPp's error log
    output: str  # tail of SIPp's console output
    kept: Mapping[str, str] = field(default_factory=dict)  # files named in Sipp.keep

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0

    def describe(self) -> str:
        return (
            f"sipp exit {self.returncode}: {self.successful} ok, {self.failed} failed "
            f"{dict(self.failures)}; responses {dict(self.responses)}; "
            f"requests {dict(self.requests)}\nerrors:\n{self.errors}\noutput:\n{self.output}"
        )


@dataclass(frozen=True)
class SippBinary:
    """How to run SIPp: a command prefix and where its working directories must live."""

    prefix: tuple[str, ...]
    root: Path | None = None  # chroot root; paths given to SIPp are relative to it

    @classmethod
    def detect(cls) -> SippBinary:
        choice = os.environ.get("CCARI_SIPP", "auto")
        if choice in ("auto", "host") and shutil.which("sipp"):
            return cls(())
        if choice == "host":
            raise SippError("CCARI_SIPP=host but no sipp on PATH: apt-get install sip-tester")
        from ccari.pbx.runtime import default_root

        root = default_root()
        if not (root / "usr/bin/sipp").exists():
            raise SippError(
                f"no sipp on the host and none in {root}: apt-get install sip-tester, "
                "or run python -m ccari.pbx provision"
            )
        return cls(("chroot", str(root)), root)

    def workdir(self) -> Path:
        base = (self.root / "tmp") if self.root else Path(tempfile.gettempdir())
        return Path(tempfile.mkdtemp(prefix="ccari-sipp-", dir=base))

    def inner(self, path: Path) -> str:
        return "/" + str(path.relative_to(self.root)) if self.root else str(path)

    def argv(self, workdir: Path, args: Sequence[str]) -> list[str]:
        # cd into the work dir: SIPp writes its counts file next to the scenario name
        script = 'cd "$1" && shift && exec sipp "$@"'
        return [*self.prefix, "sh", "-c", script, "sh", self.inner(workdir), *args]


def free_tcp_port(ip: str = "127.0.0.1") -> int:
    """A TCP port that is free now on ``ip`` (for a web listener, an SMTP sink...)."""
    return free_port(ip, socket.SOCK_STREAM)


# Test ports come from 2000-9999: below the kernel's ephemeral range (where it picks ports for
# connections and for binds to port 0) and below every Asterisk RTP range of the suite. Each
# pytest-xdist worker owns one slice of it, so two workers never pick the same port between a
# pick and its bind; within a slice a cursor hands each number out once (whatever the
# protocol: an Asterisk's SIP (UDP) and ARI (TCP) ports must differ) until it wraps.
_SPAN = (2000, 10000)
# Ports browsers refuse to load pages from (Chromium's and Firefox's restricted ports in
# that span: NFS, lockd, SIP, X11, IRC...): a web listener there is unreachable for them.
_UNSAFE = frozenset({2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
                     6669, 6679, 6697})


def _worker_slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = (_SPAN[1] - _SPAN[0]) // count
    return range(_SPAN[0] + index * size, _SPAN[0] + (index + 1) * size)


_SLICE = _worker_slice()
_cursor = _SLICE.start + (os.getpid() % len(_SLICE)) // 4 * 4


def _bindable(ip: str, kind: int, ports: range) -> bool:
    try:
        with contextlib.ExitStack() as stack:
            for p in ports:
                s = stack.enter_context(socket.socket(socket.AF_INET, kind))
                s.bind((ip, p))
        return True
    except OSError:
        return False


def free_port(ip: str, kind: int = socket.SOCK_DGRAM, *, even_pair: bool = False) -> int:
    """A port that is free now on ``ip``, from this worker's slice, not lately handed out (with
    ``even_pair``: even, and the next three free too: RTP, RTCP and a second stream)."""
    global _cursor
    width = 4 if even_pair else 1
    for _ in range(len(_SLICE)):
        if even_pair:
            _cursor += _cursor % 2
        if _cursor + width > _SLICE.stop:
            _cursor = _SLICE.start
        port = _cursor
        _cursor += width
        span = range(port, port + width)
        if not _UNSAFE.intersection(span) and _bindable(ip, kind, span):
            return port
    raise SippError(f"no free port{' pair' if even_pair else ''} found on {ip}")


def scenario_params(text: str) -> dict[str, str]:
    """The ``ccari-params:`` defaults declared in a scenario."""
    m = _PARAMS.search(text)
    if not m:
        return {}
    return dict(item.split("=", 1) for item in m.group(1).split())


@dataclass
class Sipp:
    """One SIPp process. ``async with Sipp(...) as s`` starts it and waits until it listens."""

    scenario: str | Path  # file name in tests/sipp/ or a path
    target: str | None = None  # "host:port"; None for a UAS
    service: str | None = None  # Request-URI user (-s), e.g. the dialled DID
    local_ip: str = "127.0.0.1"
    local_port: int = 0  # 0: a free port
    calls: int | None = 1  # -m: exit after that many calls (None: run until stopped)
    rate: float | None = None  # -r calls per second
    max_concurrent: int | None = None  # -l
    params: Mapping[str, str | int] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)  # -key name value
    variables: Mapping[str, str] = field(default_factory=dict)  # -set name value
    inject: Sequence[Sequence[str]] | None = None  # -inf rows, read SEQUENTIAL
    recv_timeout_ms: int | None = None  # -recv_timeout: fail a call stuck waiting
    timeout_s: float = 60.0  # -timeout: SIPp gives up, and so do we (+ margin)
    extra_args: Sequence[str] = ()
    files: Mapping[str, bytes] = field(default_factory=dict)  # written next to the scenario
    # Files SIPp writes in its work dir (e.g. a -log_file) returned in SippResult.kept.
    keep: Sequence[str] = ()
    binary: SippBinary | None = None

    _proc: asyncio.subprocess.Process | None = field(default=None, init=False, repr=False)
    _workdir: Path | None = field(default=None, init=False, repr=False)
    _result: SippResult | None = field(default=None, init=False, repr=False)

    def _prepare(self) -> list[str]:
        binary = self.binary or SippBinary.detect()
        self.binary = binary
        src = Path(self.scenario)
        if not src.is_absolute() and not src.exists():
            src = SCENARIO_DIR / src
        text = src.read_text()
        values = {**scenario_params(text), **{k: str(v) for k, v in self.params.items()}}
        missing = sorted(set(_PLACEHOLDER.findall(text)) - values.keys())
        if missing:
            raise SippError(f"{src.name}: no value for {missing}")
        text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
        workdir = binary.workdir()
        self._workdir = workdir
        (workdir / src.name).write_text(text)
        for name, data in self.files.items():
            (workdir / name).write_bytes(data)
        if not self.local_port:
            self.local_port = free_port(self.local_ip)
        media_port = free_port(self.local_ip, even_pair=True)
        # A 2-cpu box: SIPp's control socket would default to 8888 for everyone.
        control_port = free_port(self.local_ip)
        args = [
            "-sf", src.name,
            "-i", self.local_ip, "-p", str(self.local_port),
            "-mi", self.local_ip, "-mp", str(media_port),
            "-ci", self.local_ip, "-cp", str(control_port),
            "-nostdin", "-trace_err", "-error_file", "errors.log",
            "-trace_stat", "-stf", "stats.csv", "-fd", "1",
            "-trace_counts", "-trace_screen", "-screen_file", "screen.log",
            "-timeout", f"{int(self.timeout_s)}s", "-timeout_error",
        ]  # fmt: skip
        if self.service:
            args += ["-s", self.service]
        if self.calls is not None:
            args += ["-m", str(self.calls)]
        if self.rate is not None:
            args += ["-r", str(self.rate)]
        if self.max_concurrent is not None:
            args += ["-l", str(self.max_concurrent)]
        if self.recv_timeout_ms is not None:
            args += ["-recv_timeout", str(self.recv_timeout_ms)]
        for k, v in self.keys.items():
            args += ["-key", k, v]
        for k, v in self.variables.items():
            args += ["-set", k, v]
        if self.inject is not None:
            with open(workdir / "inject.csv", "w", newline="") as f:
                f.write("SEQUENTIAL\n")
                csv.writer(f, delimiter=";", lineterminator="\n").writerows(self.inject)
            args += ["-inf", "inject.csv"]
        args += list(self.extra_args)
        if self.target:
            args.append(self.target)
        return binary.argv(workdir, args)

    @property
    def pid(self) -> int | None:
        """SIPp's process id once started (for CPU accounting from /proc)."""
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        argv = self._prepare()
        assert self._workdir is not None
        log.info("starting %s", " ".join(argv))
        out = os.open(self._workdir / "console.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out
            )
        finally:
            os.close(out)

    async def wait_ready(self, seconds: float = 10.0) -> None:
        """Return once SIPp's SIP socket is bound (a UAS is then able to take calls)."""
        assert self._proc is not None, "start() first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not udp_bound(self.local_ip, self.local_port):
            if self._proc.returncode is not None:
                raise SippError(f"sipp exited early:\n{(await self.result()).describe()}")
            if loop.time() > deadline:
                raise SippError(f"sipp not listening on {self.local_port} after {seconds}s")
            await asyncio.sleep(0.02)

    async def wait(self, seconds: float | None = None) -> SippResult:
        """Wait for SIPp to exit on its own (-m calls done, or -timeout) and return stats."""
        assert self._proc is not None, "start() first"
        limit = seconds or self.timeout_s + 10
        try:
            await asyncio.wait_for(self._proc.wait(), limit)
        except TimeoutError:
            await self._kill()
            raise SippError(f"sipp still running after {limit}s; killed") from None
        return await self.result()

    async def stop(self, seconds: float = 10.0) -> SippResult:
        """Ask SIPp to finish (SIGUSR1: stop making calls, end the current ones), then kill."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGUSR1)
            try:
                await asyncio.wait_for(self._proc.wait(), seconds)
            except TimeoutError:
                await self._kill()
        return await self.result()

    async def _kill(self) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        await self._proc.wait()

    async def result(self) -> SippResult:
        if self._result is None:
            assert self._proc is not None and self._workdir is not None
            if self._proc.returncode is None:
                await self._proc.wait()
            self._result = _parse(self._workdir, self._proc.returncode or 0, self.keep)
            shutil.rmtree(self._workdir, ignore_errors=True)
        return self._result

    async def __aenter__(self) -> Sipp:
        for attempt in range(3):
            await self.start()
            try:
                await self.wait_ready()
                return self
            except SippError as e:
                # A process outside this worker bound a port we picked between the pick
                # and SIPp's bind: pick the media and control ports again.
                if attempt == 2 or "errno = 98" not in str(e):
                    raise
                log.warning("SIPp found a port taken; starting it again: %s", e)
                self._proc, self._result = None, None
        raise AssertionError("unreachable")

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def run_sipp(scenario: str | Path, target: str, **kwargs: object) -> SippResult:
    """Run a UAC scenario to completion and return its result."""
    sipp = Sipp(scenario, target, **kwargs)  # type: ignore[arg-type]
    await sipp.start()
    return await sipp.wait()


def _last_row(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    header = lines[0].rstrip(";").split(";")
    values = lines[-1].rstrip(";").split(";")
    return dict(zip(header, values, strict=False))


def _tail(path: Path, n: int = 20) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def _parse(workdir: Path, returncode: int, keep: Sequence[str] = ()) -> SippResult:
    stats = _last_row(workdir / "stats.csv")
    counts_files = sorted(workdir.glob("*_counts.csv"))
    counts = _last_row(counts_files[0]) if counts_files else {}

    def num(v: str | None) -> int:
        try:
            return int(float(v or 0))
        except ValueError:
            return 0

    failures = {
        k[: -len("(C)")]: num(v)
        for k, v in stats.items()
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and num(v)
    }
    responses: dict[int, int] = {}
    requests: dict[str, int] = {}
    for k, v in counts.items():
        parts = k.split("_")
        if len(parts) == 3 and parts[2] == "Recv" and num(v):
            name = parts[1]
            if name.isdigit():
                responses[int(name)] = responses.get(int(name), 0) + num(v)
            else:
                requests[name] = requests.get(name, 0) + num(v)
    return SippResult(
        returncode=returncode,
        successful=num(stats.get("SuccessfulCall(C)")),
        failed=num(stats.get("FailedCall(C)")),
        failures=failures,
        responses=responses,
        requests=requests,
        errors=_tail(workdir / "errors.log"),
        output=_tail(workdir / "console.log"),
        kept={name: (workdir / name).read_text(errors="replace")
              for name in keep if (workdir / name).exists()},
    )

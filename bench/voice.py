"""Calls per second through ccari against a plain dialplan, on the same Asterisk, same run.

ccari path: SIPp carrier -> Stasis -> IVR (DTMF "1") -> queue -> skill match -> SIPp agent
phone answers -> bridged -> the agent hangs up after ``--hold`` seconds.
Baseline:   SIPp carrier -> dialplan Answer() / Wait(hold) / Hangup().
In both the caller waits for the far end's BYE, so a call only succeeds when it was served.

Each system is driven at doubling call rates (``--start`` calls/s, steps of ``--step``
seconds) until more than 0.5% of the calls fail (for ccari a call counts only if it reached
an agent within ``--max-setup`` seconds), or the rate cap is reached.  The sustained rate
is the highest step that passed.
``p99_setup_ms``: arrival at ccari to the agent's answer bridged, over ccari's passing steps
(it includes the 200 ms DTMF delay of the IVR).

    python -m bench.voice            # about a minute, rates up to 80/s
    python -m bench.voice --full     # up to 640/s, longer steps

Last line: ``ccari_cps=… dialplan_cps=… ratio=… p99_setup_ms=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select

from ccari.app import runtime, with_secrets
from ccari.config import Config, DatabaseConfig, PbxConfig, VoiceConfig
from ccari.pbx import provision, start, stop
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import (
    Agent,
    AgentSkill,
    Contact,
    IvrMenu,
    IvrOption,
    Number,
    Queue,
    Tenant,
    TrunkPool,
)
from ccari.tenants.pbx import build_spec
from ccari.web.security import hash_password
from tests.support.sipp import Sipp, free_port

DID, BASELINE_DID = "19990100", "19990000"
CARRIER_IP = "127.0.0.2"


@dataclass
class Step:
    rate: int
    calls: int
    failed: int
    setups_ms: list[float]

    @property
    def fail_ratio(self) -> float:
        return self.failed / self.calls if self.calls else 1.0


async def seed(cfg: Config, agents: int, uas_port: int) -> None:
    engine = make_engine(cfg.database.url)
    async with make_sessionmaker(engine)() as s:
        tenant = Tenant(slug="bench", name="Bench", trunk_ratio=10, after_hours_trunks=1000)
        s.add(tenant)
        await s.flush()
        queue = Queue(tenant_id=tenant.id, name="main", ring_timeout_s=15, wrap_up_s=0,
                      announce_every_s=60)
        menu = IvrMenu(tenant_id=tenant.id, name="main", prompt="welcome",
                       invalid_prompt="invalid-option", timeout_s=5, max_tries=2)
        menu.options = [IvrOption(digit="1", label="sales", attributes={"skill": "sales"})]
        s.add_all([queue, menu])
        await s.flush()
        s.add(Number(tenant_id=tenant.id, did=DID, queue_id=queue.id, ivr_menu_id=menu.id))
        # The shared trunk pool must not be what limits the bench (admission is measured
        # by bench.admission): size it for the highest rate.
        pool = await s.get(TrunkPool, 1)
        assert pool is not None
        pool.total_trunks = 100_000
        pw = hash_password("bench-agent")  # one hash for all: scrypt per agent would dominate
        for i in range(agents):
            a = Agent(tenant_id=tenant.id, username=f"a{i}", display_name=f"Agent {i}",
                      password_hash=pw, phone_username=f"bench-a{i}", phone_password="bench-phone-pw",
                      phone_contact=f"sip:bench-a{i}@127.0.0.1:{uas_port}", presence="ready",
                      slots={"per_medium": {"voice": 1}, "total": 1, "exclusive": ["voice"]})
            a.skills = [AgentSkill(name="skill", value="sales", proficiency=5)]
            s.add(a)
        await s.commit()
    await engine.dispose()


async def drive(target: str, did: str, rate: int, seconds: float) -> tuple[int, int]:
    calls = max(1, int(rate * seconds))
    sipp = Sipp("caller_dtmf.xml", target, service=did, local_ip=CARRIER_IP, calls=calls,
                rate=rate, max_concurrent=rate * 10, timeout_s=seconds + 40, recv_timeout_ms=15000,
                params={"digits": "1", "dtmf_after_ms": 200, "hangup_after_ms": 0})
    await sipp.start()
    result = await sipp.wait()
    return result.successful + result.failed, result.failed


async def ramp(name: str, run_step, args) -> list[Step]:  # type: ignore[no-untyped-def]
    steps: list[Step] = []
    rate = args.start
    while rate <= args.cap:
        step = await run_step(rate)
        steps.append(step)
        print(f"{name:8s} rate={rate:4d}/s calls={step.calls:5d} failed={step.failed:4d} "
              f"({100 * step.fail_ratio:.2f}%)", flush=True)
        if step.fail_ratio > 0.005:
            break
        rate *= 2
    return steps


def sustained(steps: list[Step]) -> int:
    passing = [s.rate for s in steps if s.fail_ratio <= 0.005]
    return max(passing, default=0)


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="ccari-bench-voice-"))
    uas_port = free_port("127.0.0.1")
    pbx_cfg = PbxConfig(instance="bench", app_name="ccari-bench", sip_port=35060, ari_port=38088,
                        ami_port=35038, rtp_start=40002, rtp_end=60000, carrier_match=(CARRIER_IP,))
    base = Config(state_dir=str(tmp / "var"), admin_token="bench-admin")
    cfg = with_secrets(replace(base, pbx=pbx_cfg, web=replace(base.web, secret_key="bench"),
                               database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp}/ccari.db"),
                               voice=VoiceConfig(announce_every_s=60),
                               smtp=replace(base.smtp, intake_port=0)))
    await upgrade_async(cfg.database.url)
    agents = args.cap * (args.hold + 3)
    await seed(cfg, agents, uas_port)
    engine = make_engine(cfg.database.url)
    async with make_sessionmaker(engine)() as s:
        spec = await build_spec(s, cfg)
    rt_pbx = await asyncio.to_thread(provision)
    await asyncio.to_thread(stop, pbx_cfg.instance, runtime=rt_pbx)  # a leftover of a killed run
    proc = await asyncio.to_thread(start, spec, runtime=rt_pbx)
    target = f"127.0.0.1:{pbx_cfg.sip_port}"
    hold_ms = args.hold * 1000
    try:
        await asyncio.to_thread(
            proc.rx, f"dialplan add extension {BASELINE_DID},1,Answer() into from-carrier replace")
        await asyncio.to_thread(
            proc.rx, f"dialplan add extension {BASELINE_DID},2,Wait({args.hold}) into from-carrier")
        await asyncio.to_thread(
            proc.rx, f"dialplan add extension {BASELINE_DID},3,Hangup() into from-carrier")

        async def dialplan_step(rate: int) -> Step:
            calls, failed = await drive(target, BASELINE_DID, rate, args.step)
            return Step(rate, calls, failed, [])

        started = time.monotonic()
        baseline = await ramp("dialplan", dialplan_step, args)

        async with Sipp("agent_uas.xml", local_ip="127.0.0.1", local_port=uas_port, calls=None,
                        params={"agent": "bench", "answer_after_ms": 0, "hangup_after_ms": hold_ms},
                        timeout_s=3600), \
                runtime(cfg) as rt:

            async def ccari_step(rate: int) -> Step:
                t0 = time.time()
                calls, failed = await drive(target, DID, rate, args.step)
                async with rt.sessions() as s:
                    since = dt.datetime.fromtimestamp(t0, dt.UTC)
                    rows = list(await s.scalars(select(Contact).where(Contact.arrived_at >= since)))
                setups = [(c.connected_at - c.arrived_at).total_seconds() * 1000
                          for c in rows if c.connected_at is not None]
                on_time = sum(1 for x in setups if x <= args.max_setup * 1000)
                if args.verbose:
                    states: dict[str, int] = {}
                    for c in rows:
                        key = f"{c.state}/{c.disposition}"
                        states[key] = states.get(key, 0) + 1
                    print(f"  sipp failed={failed} contacts={len(rows)} {states} "
                          f"late={len(setups) - on_time}", flush=True)
                return Step(rate, calls, max(failed, calls - on_time), setups)

            ours = await ramp("ccari", ccari_step, args)
        elapsed = time.monotonic() - started
    finally:
        await asyncio.to_thread(proc.stop)
        await engine.dispose()

    ccari_cps, dialplan_cps = sustained(ours), sustained(baseline)
    setups = sorted(x for s in ours if s.fail_ratio <= 0.005 for x in s.setups_ms)
    p99 = setups[min(len(setups) - 1, int(0.99 * len(setups)))] if setups else float("nan")
    capped = [n for n, steps in (("ccari", ours), ("dialplan", baseline))
              if steps and steps[-1].fail_ratio <= 0.005]
    if capped:
        print(f"note: {', '.join(capped)} passed every step up to the cap of {args.cap}/s; "
              "use --full for higher rates", flush=True)
    print(f"ran {elapsed:.0f}s with {agents} agents, hold {args.hold}s, steps of {args.step}s")
    ratio = ccari_cps / dialplan_cps if dialplan_cps else float("nan")
    print(f"ccari_cps={ccari_cps} dialplan_cps={dialplan_cps} ratio={ratio:.2f} "
          f"p99_setup_ms={p99:.0f}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.voice", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="rates up to 640/s, 10 s steps")
    p.add_argument("--start", type=int, default=10)
    p.add_argument("--cap", type=int, default=80)
    p.add_argument("--step", type=float, default=3.0, help="seconds of calls per step")
    p.add_argument("--hold", type=int, default=2, help="seconds the caller stays connected")
    p.add_argument("--max-setup", type=float, default=3.0,
                   help="a ccari call whose agent is bridged later than this (s) counts as failed")
    p.add_argument("--verbose", action="store_true", help="print where failed calls ended")
    args = p.parse_args(argv)
    if args.full:
        args.cap, args.step = max(args.cap, 640), max(args.step, 10.0)
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))

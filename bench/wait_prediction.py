"""Accuracy of wait predictions in a discrete-event contact-center simulation.

``python -m bench.wait_prediction [--full] [--seed N]``

Calls arrive (Poisson, rate varying over the day, with bursts) for four skills whose handle
times follow different distributions; 10% are priority callers. 50 agents with one to three
skills take breaks (not ready) and change shifts (log out, others log in); some calls are not
answered (ring timeout, agent goes not ready) and impatient callers hang up. The ccari router
routes every call. When a call arrives, three predictors announce its wait:

* ccari: ``Router.predicted_wait`` (position among competing items, slots, handle times);
* Erlang C: staffed agents with the skill, arrival rate of the last 30 min, mean handle time;
* app_queue: per-skill ``holdtime = (3 * old + new) >> 2`` over the waits of answered calls.

The error is measured against the wait the caller actually had until an agent answered
(callers who hang up are left out; the first simulated hour is a warm-up).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bench._common import mean, parser, table
from ccari.routing import (
    Agent,
    AgentState,
    AppQueueHoldtime,
    Medium,
    Offer,
    QueueRule,
    RelaxationStep,
    Requirement,
    Router,
    Rules,
    SlotSpec,
    WorkItem,
    erlang_c_wait,
    skill_of,
)

TENANT = "sim"
HOUR = 3600.0
SL_THRESHOLD = 20.0
LOAD = 0.85  # offered load / available agents, on average (peaks go above 1)
AVAILABLE = 0.9 * 50 / 60  # logged in, and not on a break
RULES = Rules(default=QueueRule(steps=(RelaxationStep(45, min_proficiency=1),)))


def _lognormal(mean_s: float, sigma: float) -> Callable[[random.Random], float]:
    mu = math.log(mean_s) - sigma**2 / 2
    return lambda rng: rng.lognormvariate(mu, sigma)


HANDLE: dict[str, Callable[[random.Random], float]] = {
    "sales": lambda rng: rng.expovariate(1 / 240),
    "support": _lognormal(360, 0.9),
    "billing": lambda rng: rng.gammavariate(4, 180 / 4),
    "tech": lambda rng: 120 * rng.uniform(0.7, 1.3) if rng.random() < 0.7 else rng.uniform(400, 800),
}
MEAN_HANDLE = {"sales": 240.0, "support": 360.0, "billing": 180.0, "tech": 264.0}
# Agents: (count, skills); multi-skilled ones have a lower proficiency in their second skills.
STAFF = [(12, ["sales"]), (10, ["support"]), (6, ["billing"]), (6, ["tech"]),
         (6, ["sales", "billing"]), (5, ["support", "tech"]), (5, ["support", "sales", "tech"])]


@dataclass
class Call:
    item: WorkItem
    skill: str
    predictions: dict[str, float]
    queue_length: int
    answered_at: float | None = None
    abandoned: bool = False
    erlang_defined: bool = True


@dataclass
class Sim:
    rng: random.Random
    hours: float
    router: Router = field(default_factory=lambda: Router(RULES))
    events: list[tuple[float, int, str, str]] = field(default_factory=list)
    calls: dict[str, Call] = field(default_factory=dict)
    app_queue: dict[str, AppQueueHoldtime] = field(default_factory=dict)
    arrivals: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    handled: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    agents: dict[str, Agent] = field(default_factory=dict)
    leaving: set[str] = field(default_factory=set)
    seq: int = 0
    now: float = 0.0
    overloaded: int = 0

    def at(self, when: float, kind: str, ident: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, ident))

    # -- set-up --------------------------------------------------------------------------------

    def start(self) -> None:
        rng = self.rng
        for skill, draw in HANDLE.items():  # history from the store
            for _ in range(200):
                seconds = draw(rng)
                self.router.record_handle_time(TENANT, Medium.VOICE, f"skill={skill}", seconds)
                self.handled[skill].append(seconds)
        n = 0
        for count, skills in STAFF:
            for _ in range(count):
                n += 1
                attrs = {("skill", s): (5 if i == 0 else rng.randint(2, 4))
                         for i, s in enumerate(skills)}
                self.agents[f"a{n}"] = Agent(f"a{n}", TENANT, "hq", attrs, SlotSpec.voice())
        for agent_id, agent in self.agents.items():
            if rng.random() < 0.9:
                self.offers(self.router.agent_login(agent, 0.0, ready=True))
                self.at(rng.expovariate(1 / (50 * 60)), "break", agent_id)
            else:
                self.at(rng.uniform(0, 4 * HOUR), "login", agent_id)
        for skill in HANDLE:
            self.at(self.next_arrival(skill, 0.0), "arrival", skill)
        for k in range(1, int(self.hours / 4) + 1):  # shift changes every 4 hours
            self.at(k * 4 * HOUR, "shift", "")

    def rate(self, skill: str, t: float) -> float:
        """Calls per second: a daily wave and a burst now and then."""
        staffed = sum(c / len(skills) for c, skills in STAFF if skill in skills)
        base = LOAD * staffed * AVAILABLE / MEAN_HANDLE[skill]
        wave = 1 + 0.3 * math.sin(2 * math.pi * t / (6 * HOUR) + len(skill))
        burst = 1.5 if (t // 1200) % 7 == len(skill) % 7 else 1.0
        return base * wave * burst

    def next_arrival(self, skill: str, t: float) -> float:
        peak = self.rate(skill, 0) * 1.3 * 1.5 / (1 + 0.3 * math.sin(len(skill)))
        while True:  # thinning
            t += self.rng.expovariate(peak)
            if self.rng.random() * peak <= self.rate(skill, t):
                return t

    # -- the three predictors -------------------------------------------------------------------

    def erlang_c(self, skill: str) -> float:
        window = self.arrivals[skill]
        while window and window[0] < self.now - 1800:
            window.popleft()
        rate = len(window) / min(max(self.now, 1.0), 1800.0)
        staffed = sum(
            1 for a in self.agents.values()
            if ("skill", skill) in a.attributes
            and self.router.agent_state(a.id) not in (AgentState.LOGGED_OUT, AgentState.NOT_READY)
        )
        handle = mean(list(self.handled[skill])[-400:])
        wait = erlang_c_wait(staffed, rate, handle)
        if math.isinf(wait):  # load at or above staffing: Erlang C has no answer; cap at 98%
            self.overloaded += 1
            wait = erlang_c_wait(staffed, 0.98 * staffed / handle, handle) if staffed else 3600.0
        return wait

    def arrival(self, skill: str) -> None:
        rng = self.rng
        self.at(self.next_arrival(skill, self.now), "arrival", skill)
        call_id = f"c{len(self.calls) + 1}"
        req = Requirement("skill", skill, min_proficiency=3)
        item = WorkItem(call_id, TENANT, Medium.VOICE, (req,), 1 if rng.random() < 0.1 else 0,
                        self.now)
        queue = sum(1 for c in self.router.waiting(TENANT) if skill_of(c) == f"skill={skill}")
        self.arrivals[skill].append(self.now)
        call = Call(item, skill, {}, queue)
        self.calls[call_id] = call
        offers = self.router.add_item(item, self.now)
        before = self.overloaded
        call.predictions = {
            "ccari": self.router.predicted_wait(call_id, self.now).wait,
            "erlang_c": self.erlang_c(skill),
            "app_queue": self.app_queue.setdefault(skill, AppQueueHoldtime()).estimate(),
        }
        call.erlang_defined = self.overloaded == before
        self.offers(offers)
        self.at(self.now + rng.expovariate(1 / 400), "abandon", call_id)

    # -- what happens to offers ----------------------------------------------------------------

    def offers(self, offers: list[Offer]) -> None:
        for offer in offers:
            if self.rng.random() < 0.03:
                self.at(self.now + 15.0, "no_answer", offer.item_id)
                continue
            call = self.calls[offer.item_id]
            call.answered_at = self.now
            waited = self.now - call.item.arrived_at
            self.app_queue.setdefault(call.skill, AppQueueHoldtime()).record(waited)
            self.offers(self.router.accept(offer.item_id, self.now))
            self.at(self.now + HANDLE[call.skill](self.rng), "complete", offer.item_id)

    def step(self, kind: str, ident: str) -> None:
        router, now, rng = self.router, self.now, self.rng
        if kind == "arrival":
            self.arrival(ident)
        elif kind == "complete":
            call = self.calls[ident]
            started = call.answered_at or now
            self.handled[call.skill].append(now - started)
            self.offers(router.complete(ident, now))
        elif kind == "abandon":
            call = self.calls[ident]
            if call.answered_at is None:
                call.abandoned = True
                self.offers(router.remove_item(ident, now))
        elif kind == "no_answer":
            call = self.calls[ident]
            if not call.abandoned:
                agent_id = next(o.agent_id for o in router.snapshot().offers if o.item_id == ident)
                self.offers(router.reject(ident, now, missed=True))
                self.at(now + 30.0, "back", agent_id)
        elif kind == "break":
            if router.agent_state(ident) is not AgentState.LOGGED_OUT and ident not in self.leaving:
                self.offers(router.agent_not_ready(ident, now))
                self.at(now + rng.expovariate(1 / 600), "back", ident)
        elif kind == "back":
            if router.agent_state(ident) is not AgentState.LOGGED_OUT and ident not in self.leaving:
                self.offers(router.agent_ready(ident, now))
                self.at(now + rng.expovariate(1 / (50 * 60)), "break", ident)
        elif kind == "login":
            if router.agent_state(ident) is AgentState.LOGGED_OUT:
                self.offers(router.agent_login(self.agents[ident], now, ready=True))
                self.at(now + rng.expovariate(1 / (50 * 60)), "break", ident)
        elif kind == "shift":
            on = [a for a in sorted(self.agents) if router.agent_state(a) is not AgentState.LOGGED_OUT]
            for agent_id in rng.sample(on, k=len(on) // 8):
                self.leaving.add(agent_id)
                self.offers(router.agent_not_ready(agent_id, now))
                self.at(now + rng.uniform(600, 1800), "login_later", agent_id)
        elif kind == "login_later":
            if self.holds(ident):  # still on a call: log out after it
                self.at(now + 60.0, "login_later", ident)
                return
            self.leaving.discard(ident)
            self.offers(router.agent_logout(ident, now))
            self.at(now + rng.uniform(60, 600), "login", ident)

    def holds(self, agent_id: str) -> bool:
        snap = self.router.snapshot()
        return any(a == agent_id for _, a in snap.busy) or any(
            o.agent_id == agent_id for o in snap.offers
        )

    def run(self) -> None:
        self.start()
        end = self.hours * HOUR
        while self.events:
            deadline = self.router.next_deadline()
            if deadline is not None and deadline <= self.events[0][0]:
                self.now = deadline
                self.offers(self.router.tick(deadline))
                continue
            when, _, kind, ident = heapq.heappop(self.events)
            if when > end:
                break
            self.now = when
            self.step(kind, ident)


BUCKETS = [(0, 0), (1, 2), (3, 5), (6, 10), (11, 20), (21, 10**9)]
PREDICTORS = ("ccari", "erlang_c", "app_queue")


def report(sims: list[Sim], warm_up: float) -> dict[str, float]:
    answered = [c for s in sims for c in s.calls.values()
                if c.answered_at is not None and c.item.arrived_at >= warm_up]
    offered = [c for s in sims for c in s.calls.values()
               if c.item.arrived_at >= warm_up and (c.answered_at is not None or c.abandoned)]

    def waited(c: Call) -> float:
        assert c.answered_at is not None
        return c.answered_at - c.item.arrived_at

    def mae(calls: list[Call], name: str) -> float:
        return mean([abs(c.predictions[name] - waited(c)) for c in calls])

    def bias(calls: list[Call], name: str) -> float:
        return mean([c.predictions[name] - waited(c) for c in calls])

    rows = []
    for low, high in BUCKETS:
        group = [c for c in answered if low <= c.queue_length <= high]
        label = f"{low}" if low == high else (f"{low}+" if high > 10**6 else f"{low}-{high}")
        rows.append([label, len(group), mean([waited(c) for c in group]),
                     *(mae(group, p) for p in PREDICTORS)])
    rows.append(["all", len(answered), mean([waited(c) for c in answered]),
                 *(mae(answered, p) for p in PREDICTORS)])
    print("mean absolute error of the wait announced on arrival (s), by calls of the same skill")
    print("already waiting:")
    print(table(["queue", "calls", "mean_wait", *(f"mae_{p}" for p in PREDICTORS)], rows))
    print("bias (mean predicted - actual, s): " + ", ".join(
        f"{p}={bias(answered, p):+.1f}" for p in PREDICTORS))
    defined = [c for c in answered if c.erlang_defined]
    print(f"Erlang C is undefined (load >= staffed agents) for "
          f"{100 * (1 - len(defined) / len(answered)):.0f}% of the calls (capped at 98% load); "
          "on the others: " + ", ".join(f"mae_{p}={mae(defined, p):.1f}" for p in PREDICTORS))

    groups: list[tuple[str, list[Call]]] = [
        *((s, [c for c in offered if c.skill == s]) for s in HANDLE),
        ("priority 1", [c for c in offered if c.item.priority == 1]),
        ("priority 0", [c for c in offered if c.item.priority == 0]),
        ("all", offered),
    ]
    rows = []
    for label, mine in groups:
        done = [c for c in mine if c.answered_at is not None]
        within = sum(1 for c in done if waited(c) <= SL_THRESHOLD)
        rows.append([label, len(mine), 100 * within / max(len(mine), 1),
                     mean([waited(c) for c in done]), max((waited(c) for c in done), default=0.0),
                     100 * (len(mine) - len(done)) / max(len(mine), 1), mae(done, "ccari")])
    print(f"service level (answered within {SL_THRESHOLD:.0f} s / offered), fairness:")
    print(table(["calls", "offered", "sl_%", "asa_s", "longest_s", "abandon_%", "mae_ccari"],
                rows))
    return {p: mae(answered, p) for p in PREDICTORS}


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    hours, runs = (24.0, 4) if args.full else (10.0, 2)
    sims = []
    for n in range(runs):
        sim = Sim(random.Random(args.seed + n), hours)
        sim.run()
        sims.append(sim)
    calls = sum(len(s.calls) for s in sims)
    print(f"wait prediction bench: {runs} runs x {hours:.0f} h, {calls} calls, 50 agents, "
          f"4 skills, seed {args.seed}")
    result = report(sims, HOUR)
    ours, erlang, app = (result[p] for p in PREDICTORS)
    for name, other in (("erlang_c", erlang), ("app_queue", app)):
        gain = 100 * (1 - ours / other)
        verdict = "met" if gain >= 30 else "NOT met"
        print(f"ccari vs {name}: {gain:.0f}% lower error (goal >= 30%: {verdict})")
    print(f"mae_ccari={ours:.1f} mae_erlang_c={erlang:.1f} mae_app_queue={app:.1f}")


if __name__ == "__main__":
    main()

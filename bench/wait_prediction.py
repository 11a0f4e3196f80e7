"""Accuracy of wait predictions in discrete-event contact-center simulations.

``python -m bench.wait_prediction [--full] [--seed N] [--runs N] [--hours H] [--scenario NAME]``

The scenarios of :mod:`bench._scenarios` (a working day's changing arrival rate, exponential
and log-normal patience, multi-skill queues, agents on breaks and changing shifts, and all of
them mixed) are each simulated for 10 hours twice (``--full``: 24 hours, 4 times); the ccari
router routes every call. When a call arrives, every predictor announces its wait:

* ccari: ``Router.predicted_wait`` (position among competing items, slots, residual handle
  times, breaks, abandonment), the figure callers hear and the web widget shows;
* LES, HOL and QL with abandonment (Ibrahim and Whitt's, :mod:`bench._delay`), per skill
  queue: QL counts the calls of the same skill ahead (priority first), the agents with the
  skill at work, their mean handle time and the abandonment rate seen so far;
* Erlang C: staffed agents with the skill, arrival rate of the last 30 min, mean handle time;
* app_queue: per-skill ``holdtime = (3 * old + new) >> 2`` over the waits of answered calls.

A call offered at once is announced 0 by every predictor (each knows a free agent took it).
The error is measured against the wait the caller actually had until an agent answered
(callers who hang up are left out; the first simulated hour is a warm-up): mean absolute
error (MAE) and the 90th percentile of the absolute error (P90) per scenario and predictor.

A yardstick, not a baseline (:mod:`bench._bound`): where the simulation can be replayed
exactly (one skill, no breaks, no priority, every offer answered), a predictor that knows the
exact state and the simulator's own laws replays the future from each arrival and announces
the median of the served waits; its error is, up to sampling noise, the least any predictor
that does not see the future can reach, so it tells how far below the baselines a goal can
be set at all.

The last line gives the scenario where ccari does worst against the best baseline (the
lowest MAE of the five others in that scenario): ``ratio`` is ccari's MAE over that
baseline's there, the worst case over ``scenarios``; the goal, ccari at least 20% below the
best baseline on every scenario, is ``ratio <= 0.8``.

Where it stands (seed 20240601, 2 x 10 h per scenario, 2026-12): the goal is NOT met, and on
three scenarios the yardstick shows that no predictor without sight of the future can meet it.

=================== ========= ======= ========== =================== ======================
scenario            mae_ccari  mae_ql  mae_bound  ccari below QL      yardstick below QL
=================== ========= ======= ========== =================== ======================
day                 9.4        10.4    8.9        10%                 15%
patience-exp        3.8        3.9     3.8        2%                  3%
patience-lognormal  4.4        4.6     4.3        4%                  6%
multi-skill         17.1       18.5    -          7%                  (not replayable)
shifts              3.1        3.3     -          6%                  (not replayable)
mixed               10.9       11.6    -          6%                  (not replayable)
=================== ========= ======= ========== =================== ======================

ccari beats LES and HOL everywhere by 23 to 38% (app_queue and Erlang C by more), and QL with
abandonment (the best baseline in every scenario) by 2 to 10%. In the two patience scenarios
ccari is within 0.1 s of the yardstick: the error left is the randomness of the future itself
(which agent frees first, who hangs up), and QL is already only 3 to 6% above it (the
yardstick's own sampling noise, 101 replays, makes it if anything a little pessimistic). In
``day`` the yardstick is 15% below QL; ccari was 3 to 7% below QL like everywhere before it
counted the renewals of log-normal handle times with their renewal function instead of a
fluid (short calls come back sooner: :mod:`ccari.routing.releases`; on a 1 x 6 h run of
``day``, 17.2 s to 15.5 s against QL's 19.3 s) and is 10% below now; the rest of the gap is
the distance of its closed-form model from the exact distribution. A 20% margin over QL would need information
no real system has at the time of the announcement (the callers' own patience, the length of
the calls in progress), not a better estimator of the same state.

Tried and not kept: correcting the model by the outcomes of its past predictions (the median
ratio of served waits to predictions of the same size, learnt per tenant, medium and skill):
the model is already median-unbiased overall (median ratio 0.97 to 0.99 except multi-skill
0.89 and shifts 1.16, whose biases depend on the state, not on the size of the prediction),
so the noise of the learnt factor cost more than it corrected (worse in five scenarios of six,
3% better in multi-skill with a 2000-item window).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict, deque
from dataclasses import dataclass, field

from bench import _bound, _delay
from bench._common import mean, parser, percentile, table
from bench._scenarios import HOUR, SCENARIOS, Scenario
from bench._wait_report import BASELINES, PREDICTORS, answered_calls, errors, report
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
RULES = Rules(default=QueueRule(steps=(RelaxationStep(45, min_proficiency=1),)))


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
    scenario: Scenario
    router: Router = field(default_factory=lambda: Router(RULES))
    events: list[tuple[float, int, str, str]] = field(default_factory=list)
    calls: dict[str, Call] = field(default_factory=dict)
    app_queue: dict[str, AppQueueHoldtime] = field(default_factory=dict)
    arrivals: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    handled: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    agents: dict[str, Agent] = field(default_factory=dict)
    history: dict[str, _delay.DelayHistory] = field(
        default_factory=lambda: defaultdict(_delay.DelayHistory))
    leaving: set[str] = field(default_factory=set)
    rates: dict[str, float] = field(default_factory=dict)
    seq: int = 0
    now: float = 0.0
    overloaded: int = 0
    bound_rng: random.Random = field(default_factory=lambda: random.Random(7))

    def at(self, when: float, kind: str, ident: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, ident))

    # -- set-up --------------------------------------------------------------------------------

    def start(self) -> None:
        rng, scenario = self.rng, self.scenario
        for skill in scenario.skills:  # history from the store
            for _ in range(200):
                seconds = scenario.draw_handle(skill, rng)
                self.router.record_handle_time(TENANT, Medium.VOICE, f"skill={skill}", seconds)
                self.handled[skill].append(seconds)
        n = 0
        for count, skills in scenario.staff:
            for _ in range(count):
                n += 1
                attrs = {("skill", s): (5 if i == 0 else rng.randint(2, 4))
                         for i, s in enumerate(skills)}
                self.agents[f"a{n}"] = Agent(f"a{n}", TENANT, "hq", attrs, SlotSpec.voice())
        for agent_id, agent in self.agents.items():
            if not scenario.breaks:
                self.offers(self.router.agent_login(agent, 0.0, ready=True))
            elif rng.random() < 0.9:
                self.offers(self.router.agent_login(agent, 0.0, ready=True))
                self.at(rng.expovariate(1 / (50 * 60)), "break", agent_id)
            else:
                self.at(rng.uniform(0, 4 * HOUR), "login", agent_id)
        for skill in scenario.skills:
            self.at(self.next_arrival(skill, 0.0), "arrival", skill)
        if scenario.breaks:
            for k in range(1, int(self.hours / 4) + 1):  # shift changes every 4 hours
                self.at(k * 4 * HOUR, "shift", "")

    def base_rate(self, skill: str) -> float:
        scenario = self.scenario
        staffed = sum(c / len(skills) for c, skills in scenario.staff if skill in skills)
        mean_handle = mean([scenario.draw_handle(skill, random.Random(n)) for n in range(2000)])
        return scenario.load * staffed * scenario.available / mean_handle

    def rate(self, skill: str, t: float) -> float:
        """Calls per second at ``t``."""
        if skill not in self.rates:
            self.rates[skill] = self.base_rate(skill)
        return self.rates[skill] * self.scenario.shape(t, skill)

    def next_arrival(self, skill: str, t: float) -> float:
        peak = self.rate(skill, 0) / self.scenario.shape(0, skill) * self.scenario.peak
        while True:  # thinning
            t += self.rng.expovariate(peak)
            if self.rng.random() * peak <= self.rate(skill, t):
                return t

    # -- the baselines --------------------------------------------------------------------------

    def working(self, skill: str) -> int:
        """Agents with the skill logged in and not on a break."""
        return sum(
            1 for a in self.agents.values()
            if ("skill", skill) in a.attributes
            and self.router.agent_state(a.id) not in (AgentState.LOGGED_OUT, AgentState.NOT_READY)
        )

    def erlang_c(self, skill: str) -> float:
        window = self.arrivals[skill]
        while window and window[0] < self.now - 1800:
            window.popleft()
        rate = len(window) / min(max(self.now, 1.0), 1800.0)
        staffed = self.working(skill)
        handle = mean(list(self.handled[skill])[-400:])
        wait = erlang_c_wait(staffed, rate, handle)
        if math.isinf(wait):  # load at or above staffing: Erlang C has no answer; cap at 98%
            self.overloaded += 1
            wait = erlang_c_wait(staffed, 0.98 * staffed / handle, handle) if staffed else 3600.0
        return wait

    def baselines(self, item: WorkItem, skill: str) -> dict[str, float]:
        """Every baseline's announcement for ``item`` (not yet in the router)."""
        mine = [c for c in self.router.waiting(TENANT) if skill_of(c) == f"skill={skill}"]
        history = self.history[skill]
        handle = mean(list(self.handled[skill])[-400:])
        ahead = sum(1 for c in mine if c.order_key < item.order_key)
        return {
            "les": _delay.les(history.last_entered_wait),
            "hol": _delay.hol(mine[0].arrived_at if mine else None, self.now),
            "ql": _delay.ql(ahead, self.working(skill), 1 / handle, history.abandon_rate()),
            "erlang_c": self.erlang_c(skill),
            "app_queue": self.app_queue.setdefault(skill, AppQueueHoldtime()).estimate(),
        }

    def arrival(self, skill: str) -> None:
        rng, scenario = self.rng, self.scenario
        self.at(self.next_arrival(skill, self.now), "arrival", skill)
        call_id = f"c{len(self.calls) + 1}"
        req = Requirement("skill", skill, min_proficiency=3)
        priority = 1 if rng.random() < scenario.priority else 0
        item = WorkItem(call_id, TENANT, Medium.VOICE, (req,), priority, self.now)
        queue = sum(1 for c in self.router.waiting(TENANT) if skill_of(c) == f"skill={skill}")
        self.arrivals[skill].append(self.now)
        call = Call(item, skill, {}, queue)
        self.calls[call_id] = call
        before = self.overloaded
        baselines = self.baselines(item, skill)
        call.erlang_defined = self.overloaded == before
        offers = self.router.add_item(item, self.now)
        at_once = any(o.item_id == call_id for o in offers)
        if at_once:  # a free agent took it: no wait
            baselines = dict.fromkeys(baselines, 0.0)
        prediction = self.router.predicted_wait(call_id, self.now)
        call.predictions = {"ccari": prediction.wait, **baselines}
        if _bound.replayable(scenario):  # the yardstick: knows the laws, replays the future
            call.predictions["bound"] = 0.0 if at_once else _bound.predict(
                scenario, self.router, TENANT, item, self.answered_at, self.now, self.bound_rng)
        self.offers(offers)
        if scenario.patience is not None:
            self.at(self.now + scenario.patience(rng), "abandon", call_id)

    # -- what happens to offers ----------------------------------------------------------------

    def offers(self, offers: list[Offer]) -> None:
        for offer in offers:
            if self.rng.random() < self.scenario.no_answer:
                self.at(self.now + 15.0, "no_answer", offer.item_id)
                continue
            call = self.calls[offer.item_id]
            call.answered_at = self.now
            waited = self.now - call.item.arrived_at
            self.app_queue.setdefault(call.skill, AppQueueHoldtime()).record(waited)
            self.history[call.skill].entered_service(waited)
            self.offers(self.router.accept(offer.item_id, self.now))
            handle = self.scenario.draw_handle(call.skill, self.rng)
            self.at(self.now + handle, "complete", offer.item_id)

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
                self.history[call.skill].abandon(now - call.item.arrived_at)
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

    def answered_at(self, call_id: str) -> float:
        return self.calls[call_id].answered_at or self.now

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


def simulate(scenario: Scenario, seed: int, hours: float, runs: int) -> list[Sim]:
    sims = []
    for n in range(runs):
        sim = Sim(random.Random(seed + n), hours, scenario)
        sim.run()
        sims.append(sim)
    return sims


def main() -> None:
    cli = parser(__doc__ or "")
    cli.add_argument("--runs", type=int, help="runs per scenario (default 2, --full 4)")
    cli.add_argument("--hours", type=float, help="hours per run (default 10, --full 24)")
    cli.add_argument("--scenario", action="append", help="only these scenarios (repeatable)")
    args = cli.parse_args()
    hours, runs = (24.0, 4) if args.full else (10.0, 2)
    hours, runs = args.hours or hours, args.runs or runs
    results: dict[str, dict[str, tuple[float, float]]] = {}  # scenario -> predictor -> errors
    counts: dict[str, tuple[int, float]] = {}
    answered_by: dict[str, list[Call]] = {}
    for scenario in SCENARIOS:
        if args.scenario and scenario.name not in args.scenario:
            continue
        sims = simulate(scenario, args.seed, hours, runs)
        answered = answered_by[scenario.name] = answered_calls(sims, HOUR)
        if scenario.name == "mixed":
            calls = sum(len(s.calls) for s in sims)
            print(f"scenario mixed: {runs} runs x {hours:.0f} h, {calls} calls, 50 agents, "
                  f"{len(scenario.skills)} skills, seed {args.seed}")
            report(sims, HOUR)
        counts[scenario.name] = (len(answered), mean(
            [(c.answered_at or 0.0) - c.item.arrived_at for c in answered]))
        results[scenario.name] = {
            p: (mean(e), percentile(e, 90)) for p in PREDICTORS for e in [errors(answered, p)]}
    print(f"wait prediction bench: {len(results)} scenarios, each {runs} runs x {hours:.0f} h, "
          f"seed {args.seed}; absolute error of the wait announced on arrival (s), answered calls")
    for stat, k in (("mae", 0), ("p90", 1)):
        rows = [[name, *counts[name], *(results[name][p][k] for p in PREDICTORS)]
                for name in results]
        print(table(["scenario", "calls", "mean_wait", *(f"{stat}_{p}" for p in PREDICTORS)],
                    rows))
    bounds = {name: (mean(e), percentile(e, 90)) for scenario in SCENARIOS
              if scenario.name in results and _bound.replayable(scenario)
              for name in [scenario.name] for e in [errors(answered_by[name], "bound")]}
    if bounds:
        print("the yardstick (bench._bound: the exact state and the simulator's own laws, the "
              "future replayed; no real predictor has them): the least error left")
        print(table(["scenario", "mae_bound", "p90_bound", "mae_ccari", "mae_ql",
                     "bound_vs_ql_%", "ccari_vs_ql_%"],
                    [[name, *b, results[name]["ccari"][0], results[name]["ql"][0],
                      100 * (1 - b[0] / results[name]["ql"][0]),
                      100 * (1 - results[name]["ccari"][0] / results[name]["ql"][0])]
                     for name, b in bounds.items()]))
    worst: tuple[float, str, str] | None = None
    for name, by in results.items():
        best = min(BASELINES, key=lambda p: by[p][0])
        ratio = by["ccari"][0] / by[best][0] if by[best][0] > 0 else math.inf
        verdict = "met" if ratio <= 0.8 else "NOT met"
        print(f"{name}: ccari {by['ccari'][0]:.1f} s vs best baseline {best} {by[best][0]:.1f} s, "
              f"{100 * (1 - ratio):.0f}% lower (goal >= 20% lower: {verdict})")
        if worst is None or ratio > worst[0]:
            worst = (ratio, name, best)
    assert worst is not None
    ratio, name, best = worst
    print(f"worst scenario: {name}")
    print(f"mae_ccari={results[name]['ccari'][0]:.1f} mae_best_baseline={results[name][best][0]:.1f} "
          f"best_baseline={best} ratio={ratio:.2f} scenarios={len(results)}")


if __name__ == "__main__":
    main()

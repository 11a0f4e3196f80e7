"""Decision latency of the routing core under a big, overloaded contact center.

``python -m bench.routing [--full] [--seed N]``

State: 10,000 waiting items, 2,000 agents (voice-only, chat+email, voice+chat blended), 50
attributes (40 skills with a skewed popularity, 10 languages), relaxation steps and an overflow
pool. Then a stream of events is replayed (arrivals, answers, completions, ring timeouts,
abandons, not-ready/ready, relaxation ticks), keeping the queue near 10,000, and each call into
the router is timed. Peak memory (tracemalloc) is measured in a separate pass, since tracing
slows everything down.

The same stream again with fair blending on (a call waiting 30 s holds back the blended agents
eligible for it: ``Rules.hold_after``) shows what the rule costs; the rule is off in the others.

Baseline, in the same run: a router without indexes, as app_queue works: a freed agent scans
the queue in order, a new item scans every agent, and a periodic pass re-checks every waiting
item against the free agents. Same rules, same slots, same scoring.

Then the hosted-scale run (:mod:`bench._hosted`, run first, printed last): 100,000 waiting
items and 20,000 agents over 200 tenants, the same stream, its latencies in CPU time of the
call (this bench shares its box; wall-clock tails there measure the other processes' time
slices), the router's memory, and the time the service takes to rebuild the router from a
filled SQLite database after a restart. ``--profile-rebuild`` prints cProfile's view of that;
``--hosted`` runs only this part.
"""

from __future__ import annotations

import bisect
import gc
import random
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bench._common import mean, parser, percentile, table
from ccari.routing import (
    Agent,
    AgentState,
    Medium,
    Offer,
    QueueRule,
    RelaxationStep,
    Requirement,
    Router,
    Rules,
    SlotSpec,
    WorkItem,
)
from ccari.routing.rules import constraint_at, fit, level_at, satisfies
from ccari.routing.slots import AgentRuntime

TENANT = "big"
SKILLS = [f"s{n}" for n in range(40)]
LANGS = [f"l{n}" for n in range(10)]
RULES = Rules(
    default=QueueRule(
        pools=frozenset({"main"}),
        steps=(
            RelaxationStep(30, min_proficiency=2),
            RelaxationStep(60, relax=frozenset({"lang"})),
            RelaxationStep(120, add_pools=frozenset({"backup"})),
        ),
    )
)
BLENDING = replace(RULES, hold_after=30.0)
SLOT_MIX = [
    (0.60, SlotSpec.voice()),
    (0.25, SlotSpec({Medium.CHAT: 3, Medium.EMAIL: 2}, 4)),
    (0.15, SlotSpec.blended({Medium.VOICE: 1, Medium.CHAT: 2})),
]


class RouterLike(Protocol):
    def add_item(self, item: WorkItem, now: float) -> list[Offer]: ...
    def remove_item(self, item_id: str, now: float) -> list[Offer]: ...
    def accept(self, item_id: str, now: float) -> list[Offer]: ...
    def reject(self, item_id: str, now: float, *, missed: bool = False) -> list[Offer]: ...
    def complete(self, item_id: str, now: float) -> list[Offer]: ...
    def agent_login(self, agent: Agent, now: float, *, ready: bool = False) -> list[Offer]: ...
    def agent_ready(self, agent_id: str, now: float) -> list[Offer]: ...
    def agent_not_ready(self, agent_id: str, now: float) -> list[Offer]: ...
    def tick(self, now: float) -> list[Offer]: ...
    def next_deadline(self) -> float | None: ...


class Population:
    """Seeded generators of agents and items."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.skill_weights = [1.0 / (n + 1) ** 0.8 for n in range(len(SKILLS))]
        self.count = 0

    def skill(self) -> str:
        return self.rng.choices(SKILLS, self.skill_weights)[0]

    def lang(self) -> str:
        return "l0" if self.rng.random() < 0.6 else self.rng.choice(LANGS)

    def agent(self, n: int) -> Agent:
        rng = self.rng
        attrs = {("skill", self.skill()): rng.randint(1, 5) for _ in range(rng.randint(2, 5))}
        attrs[("lang", self.lang())] = rng.randint(2, 5)
        slots = rng.choices([s for _, s in SLOT_MIX], [w for w, _ in SLOT_MIX])[0]
        pool = "main" if rng.random() < 0.85 else "backup"
        return Agent(f"a{n}", TENANT, f"site{n % 3}", attrs, slots, frozenset({pool}))

    def item(self, now: float, arrived: float, agents: int) -> WorkItem:
        rng = self.rng
        self.count += 1
        reqs = [Requirement("skill", self.skill(), min_proficiency=rng.choice([0, 0, 2, 3, 4]))]
        if rng.random() < 0.3:
            reqs.append(Requirement("lang", self.lang()))
        if rng.random() < 0.3:
            reqs.append(Requirement("skill", self.skill(), required=False, weight=0.5))
        medium = rng.choices([Medium.VOICE, Medium.CHAT, Medium.EMAIL], [0.5, 0.3, 0.2])[0]
        priority = rng.choices([0, 1, 2], [0.85, 0.10, 0.05])[0]
        reserved = f"a{rng.randrange(agents)}" if rng.random() < 0.02 else None
        later = now + rng.uniform(30, 300) if rng.random() < 0.02 else None
        unique = {(r.name, r.value): r for r in reqs}
        return WorkItem(
            f"i{self.count}", TENANT, medium, tuple(unique.values()), priority, arrived,
            "default", reserved, later,
        )


@dataclass
class Bookkeeping:
    """What the driver knows of the router's decisions (kept outside the timed calls)."""

    waiting: list[str] = field(default_factory=list)
    where: dict[str, int] = field(default_factory=dict)
    offered: dict[str, str] = field(default_factory=dict)
    busy: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)

    def enqueue(self, item_id: str) -> None:
        self.where[item_id] = len(self.waiting)
        self.waiting.append(item_id)

    def dequeue(self, item_id: str) -> None:
        i = self.where.pop(item_id)
        last = self.waiting.pop()
        if last != item_id:
            self.waiting[i] = last
            self.where[last] = i

    def offers(self, offers: list[Offer]) -> None:
        for offer in offers:
            if offer.item_id in self.where:
                self.dequeue(offer.item_id)
            self.offered[offer.item_id] = offer.agent_id


def build(router: RouterLike, pop: Population, agents: int, waiting: int,
          backlog_s: float = 600.0) -> Bookkeeping:
    """Agents ready and busy, ``waiting`` items in the queue at time 0, arrived over the last
    ``backlog_s`` seconds."""
    book = Bookkeeping()
    for n in range(agents):
        router.agent_login(pop.agent(n), -600.0, ready=True)
    while len(book.waiting) < waiting:
        item = pop.item(0.0, -pop.rng.uniform(0, backlog_s), agents)
        book.enqueue(item.id)
        book.offers(router.add_item(item, 0.0))
    for item_id in sorted(book.offered):
        router.accept(item_id, 0.0)
        book.busy.append(item_id)
    book.offered.clear()
    return book


def drive(
    router: RouterLike, pop: Population, book: Bookkeeping, events: int, target: int, agents: int,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> dict[str, list[float]]:
    """Replay ``events`` timed events; returns latencies in microseconds by event kind
    (``clock``: wall time; ``time.thread_time_ns``: the CPU time of the call alone)."""
    rng = pop.rng
    now = 0.0
    timings: dict[str, list[float]] = {}

    def timed(kind: str, call: Callable[..., list[Offer]], *args: Any, **kwargs: Any) -> None:
        start = clock()
        offers = call(*args, **kwargs)
        timings.setdefault(kind, []).append((clock() - start) / 1000)
        book.offers(offers)

    for _ in range(events):
        now += 0.05
        deadline = router.next_deadline()
        if deadline is not None and deadline <= now:
            timed("tick", router.tick, now)
            continue
        roll = rng.random()
        if roll < 0.30 and len(book.waiting) < target:
            item = pop.item(now, now, agents)
            book.enqueue(item.id)
            timed("arrival", router.add_item, item, now)
        elif roll < 0.55 and book.offered:
            item_id = next(iter(book.offered))
            agent_id = book.offered.pop(item_id)
            if rng.random() < 0.9:
                book.busy.append(item_id)
                timed("accept", router.accept, item_id, now)
            else:
                nr = rng.random() < 0.5
                if nr:
                    book.not_ready.append(agent_id)
                book.enqueue(item_id)
                timed("reject", router.reject, item_id, now, missed=nr)
        elif roll < 0.85 and book.busy:
            item_id = book.busy.pop(rng.randrange(len(book.busy)))
            timed("complete", router.complete, item_id, now)
        elif roll < 0.90 and book.waiting:
            item_id = rng.choice(book.waiting)
            book.dequeue(item_id)
            timed("abandon", router.remove_item, item_id, now)
        elif roll < 0.95 and book.not_ready:
            agent_id = book.not_ready.pop(0)
            timed("ready", router.agent_ready, agent_id, now)
        else:
            agent_id = f"a{rng.randrange(agents)}"
            book.not_ready.append(agent_id)
            timed("not_ready", router.agent_not_ready, agent_id, now)
    return timings


@dataclass(eq=False)
class _Naive:
    item: WorkItem
    agent: str | None = None
    excluded: dict[str, float] = field(default_factory=dict)


class NaiveRouter:
    """The baseline: same rules, slots and scoring, no index; every decision scans."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.items: dict[str, _Naive] = {}
        self.queue: list[tuple[tuple[int, float, str], str]] = []
        self.agents: dict[str, AgentRuntime] = {}
        self.scan_at = 0.0

    def _eligible(self, it: _Naive, agent: AgentRuntime, now: float) -> bool:
        item = it.item
        if item.not_before is not None and item.not_before > now:
            return False
        if not agent.can_take(item.medium) or it.excluded.get(agent.id, -1.0) > now:
            return False
        rule = self.rules.rule_for(item.tenant, item.queue)
        c = constraint_at(item, rule, level_at(item, rule, now))
        a = agent.agent
        return a.tenant == item.tenant and satisfies(a.attributes, a.pools, a.id, c)

    def _offer(self, it: _Naive, agent: AgentRuntime) -> Offer:
        self.queue.remove((it.item.order_key, it.item.id))
        it.agent = agent.id
        agent.hold(it.item.id, it.item.medium, offered=True)
        return Offer(it.item.id, agent.id, it.item.medium)

    def _fill(self, agent: AgentRuntime, now: float) -> list[Offer]:
        offers = []
        while agent.takeable():
            found = next(
                (self.items[i] for _, i in self.queue if self._eligible(self.items[i], agent, now)),
                None,
            )
            if found is None:
                break
            offers.append(self._offer(found, agent))
        return offers

    def _place(self, it: _Naive, now: float, agents: list[AgentRuntime]) -> list[Offer]:
        item = it.item
        rule = self.rules.rule_for(item.tenant, item.queue)
        c = constraint_at(item, rule, level_at(item, rule, now))
        ranked = [
            (-fit(a.agent.attributes, c), a.occupancy(), a.idle_since, a.id, a)
            for a in agents if self._eligible(it, a, now)
        ]
        return [self._offer(it, min(ranked)[-1])] if ranked else []

    def add_item(self, item: WorkItem, now: float) -> list[Offer]:
        it = self.items[item.id] = _Naive(item)
        bisect.insort(self.queue, (item.order_key, item.id))
        return self._place(it, now, list(self.agents.values()))

    def remove_item(self, item_id: str, now: float) -> list[Offer]:
        it = self.items.pop(item_id)
        if it.agent is None:
            self.queue.remove((it.item.order_key, item_id))
            return []
        agent = self.agents[it.agent]
        agent.release(item_id)
        return self._fill(agent, now)

    def accept(self, item_id: str, now: float) -> list[Offer]:
        it = self.items[item_id]
        assert it.agent is not None
        self.agents[it.agent].offered.discard(item_id)
        return []

    def reject(self, item_id: str, now: float, *, missed: bool = False) -> list[Offer]:
        it = self.items[item_id]
        assert it.agent is not None
        agent = self.agents[it.agent]
        agent.release(item_id)
        it.agent = None
        bisect.insort(self.queue, (it.item.order_key, item_id))
        if missed:
            agent.presence = AgentState.NOT_READY
        else:
            it.excluded[agent.id] = now + self.rules.reoffer_delay
        return self._fill(agent, now) + self._place(it, now, list(self.agents.values()))

    def complete(self, item_id: str, now: float) -> list[Offer]:
        it = self.items.pop(item_id)
        assert it.agent is not None
        agent = self.agents[it.agent]
        agent.release(item_id)
        agent.idle_since = now
        return self._fill(agent, now)

    def agent_login(self, agent: Agent, now: float, *, ready: bool = False) -> list[Offer]:
        state = AgentState.READY if ready else AgentState.NOT_READY
        runtime = self.agents[agent.id] = AgentRuntime(agent, state, now)
        return self._fill(runtime, now)

    def agent_ready(self, agent_id: str, now: float) -> list[Offer]:
        agent = self.agents[agent_id]
        agent.presence = AgentState.READY
        return self._fill(agent, now)

    def agent_not_ready(self, agent_id: str, now: float) -> list[Offer]:
        self.agents[agent_id].presence = AgentState.NOT_READY
        return []

    def next_deadline(self) -> float | None:
        return self.scan_at

    def tick(self, now: float) -> list[Offer]:
        """Once a second, as app_queue does: every waiting item against every free agent."""
        self.scan_at = now + 1.0
        free = [a for a in self.agents.values() if a.takeable()]
        offers: list[Offer] = []
        for _, item_id in list(self.queue):
            if not free:
                break
            offers += self._place(self.items[item_id], now, free)
            free = [a for a in free if a.takeable()]
        return offers


def measure(
    make: Callable[[], RouterLike], seed: int, agents: int, waiting: int, events: int
) -> tuple[dict[str, list[float]], float]:
    """Build, then drive; returns the latencies by kind and the build time in seconds."""
    pop = Population(seed)
    router = make()
    started = time.perf_counter()
    book = build(router, pop, agents, waiting)
    built = time.perf_counter() - started
    gc.collect()
    return drive(router, pop, book, events, waiting, agents), built


def peak_memory_mb(seed: int, agents: int, waiting: int, events: int) -> float:
    gc.collect()
    tracemalloc.start()
    pop = Population(seed)
    router = Router(RULES)
    book = build(router, pop, agents, waiting)
    drive(router, pop, book, events, waiting, agents)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def idle_pool(seed: int, agents: int, events: int) -> dict[str, list[float]]:
    """Light load: every agent idle, each arrival scores all free eligible agents."""
    pop = Population(seed)
    router = Router(RULES)
    for n in range(agents):
        router.agent_login(pop.agent(n), 0.0, ready=True)
    timings: dict[str, list[float]] = {"skill": [], "no requirement": []}
    gc.collect()  # the garbage of the runs before, not this one's
    for n in range(events):
        kind = "no requirement" if n % 2 else "skill"
        item = pop.item(float(n), float(n), agents)
        if kind == "no requirement":
            item = replace(item, requirements=(), reserved_agent=None, not_before=None)
        start = time.perf_counter_ns()
        offers = router.add_item(item, float(n))
        timings[kind].append((time.perf_counter_ns() - start) / 1000)
        for offer in offers:  # answered and done at once: the pool stays idle
            router.accept(offer.item_id, float(n))
            router.complete(offer.item_id, float(n))
    return timings


def summary(timings: dict[str, list[float]]) -> list[Any]:
    every = [t for ts in timings.values() for t in ts]
    return [len(every), percentile(every, 50), percentile(every, 99), max(every), mean(every)]


def main() -> None:
    from bench import _hosted  # it builds on this module's population and driver

    cli = parser(__doc__ or "")
    cli.add_argument("--profile-rebuild", action="store_true",
                     help="print cProfile's view of the hosted-scale rebuild from the database")
    cli.add_argument("--profile-decisions", action="store_true",
                     help="print cProfile's view of the hosted-scale decisions")
    cli.add_argument("--hosted", action="store_true",
                     help="only the hosted-scale run (its figures alone on the last line)")
    args = cli.parse_args()
    agents, waiting = 2000, 10_000
    events, baseline_events = (100_000, 5_000) if args.full else (20_000, 1_500)
    hosted = _hosted.run(args.seed, events, baseline_events // 3,
                         profile=args.profile_rebuild,  # first: a clean heap for its memory
                         profile_decisions=args.profile_decisions)
    if args.hosted:
        hp99, rebuild = _hosted.report(hosted, args.seed)
        print(f"hosted_p99_us={hp99:.1f} hosted_rebuild_s={rebuild.cpu_s:.2f} "
              f"hosted_rebuild_wall_s={rebuild.wall_s:.2f} hosted_mem_mb={hosted.memory_mb:.0f}")
        return
    print(f"routing bench: {waiting} waiting items, {agents} agents, {len(SKILLS) + len(LANGS)} "
          f"attributes, seed {args.seed}")
    ours, built = measure(lambda: Router(RULES), args.seed, agents, waiting, events)
    blend, blend_built = measure(lambda: Router(BLENDING), args.seed, agents, waiting, events)
    base, base_built = measure(lambda: NaiveRouter(RULES), args.seed, agents, waiting,
                               baseline_events)
    print(f"build: ccari {built:.2f} s, with fair blending {blend_built:.2f} s, "
          f"baseline {base_built:.2f} s")
    rows = []
    for kind in sorted(set(ours) | set(base)):
        a, b = ours.get(kind, []), base.get(kind, [])
        rows.append([kind, len(a), percentile(a, 50), percentile(a, 99), len(b),
                     percentile(b, 50), percentile(b, 99)])
    print(table(["event", "n", "p50_us", "p99_us", "base_n", "base_p50", "base_p99"], rows))
    n, p50, p99, worst, avg = summary(ours)
    bn, bp50, bp99, bworst, bavg = summary(base)
    fn, fp50, fp99, fworst, favg = summary(blend)
    print(table(["router", "events", "p50_us", "p99_us", "max_us", "mean_us"],
                [["ccari", n, p50, p99, worst, avg],
                 ["ccari, fair blending on", fn, fp50, fp99, fworst, favg],
                 ["baseline", bn, bp50, bp99, bworst, bavg]]))
    idle = idle_pool(args.seed, agents, 2_000)
    print(f"idle pool, {agents} agents ready (arrival scores every free eligible agent):")
    print(table(["item", "n", "p50_us", "p99_us"],
                [[k, len(v), percentile(v, 50), percentile(v, 99)] for k, v in idle.items()]))
    peak = peak_memory_mb(args.seed, agents, waiting, min(events, 5_000))
    verdict = "met" if p99 < 1000 else "NOT met"
    print(f"goal p99 < 1000 us: {verdict}")
    hp99, rebuild = _hosted.report(hosted, args.seed)
    print(f"items={waiting} agents={agents} p50_us={p50:.1f} p99_us={p99:.1f} peak_mb={peak:.1f} "
          f"baseline_p50_us={bp50:.1f} baseline_p99_us={bp99:.1f} ratio_p99={bp99 / p99:.1f} "
          f"blend_p50_us={fp50:.1f} blend_p99_us={fp99:.1f} hosted_p99_us={hp99:.1f} "
          f"hosted_rebuild_s={rebuild.cpu_s:.2f} hosted_mem_mb={hosted.memory_mb:.0f}")


if __name__ == "__main__":
    main()

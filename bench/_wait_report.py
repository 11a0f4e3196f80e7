"""The tables of ``bench.wait_prediction``: errors over answered calls, and the detailed view
of one scenario (error by queue length, bias, service level and fairness)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench._common import mean, table

if TYPE_CHECKING:
    from bench.wait_prediction import Call, Sim

SL_THRESHOLD = 20.0
BASELINES = ("les", "hol", "ql", "erlang_c", "app_queue")
PREDICTORS = ("ccari", *BASELINES)


BUCKETS = [(0, 0), (1, 2), (3, 5), (6, 10), (11, 20), (21, 10**9)]


def answered_calls(sims: list[Sim], warm_up: float) -> list[Call]:
    return [c for s in sims for c in s.calls.values()
            if c.answered_at is not None and c.item.arrived_at >= warm_up]


def errors(calls: list[Call], name: str) -> list[float]:
    """The absolute errors of a predictor over answered calls."""
    return [abs(c.predictions[name] - (c.answered_at or 0.0) + c.item.arrived_at) for c in calls]


def report(sims: list[Sim], warm_up: float) -> dict[str, float]:
    """The detailed view of one scenario: error by queue length, bias, service level."""
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
        *((s, [c for c in offered if c.skill == s]) for s in sims[0].scenario.skills),
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

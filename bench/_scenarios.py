"""The traffic of ``bench.wait_prediction``: one scenario per difficulty, and all of them mixed.

Every scenario has 50 agents and voice calls; the one-skill scenarios have log-normal handle
times (mean 360 s, sigma 0.9: the shape measured in call centers, Brown et al. 2005). What
changes:

* ``day``: one skill, the arrival rate follows a working day (quiet at the start, a morning
  and an afternoon peak above the staffing, a lull at lunch), no abandonment, staff fixed;
* ``patience-exp`` / ``patience-lognormal``: one skill, steady heavy load (0.97), callers
  hang up after an exponential or a log-normal patience (mean 180 s; log-normal sigma 1:
  many quick hang-ups and a long tail of patient callers);
* ``multi-skill``: four skills with different handle-time distributions, a third of the
  agents with two or three skills (less proficient in the others), steady load;
* ``shifts``: one skill, agents take breaks (not ready), every 4 hours an eighth of them
  logs out for 10 to 30 minutes and comes back, some start late;
* ``mixed``: everything at once, as the original run of this bench: four skills, a daily
  wave with bursts, exponential patience (mean 400 s), breaks and shift changes, 10%
  priority callers, 3% of offers not answered.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

HOUR = 3600.0
Draw = Callable[[random.Random], float]


@dataclass(frozen=True)
class Law:
    """A duration law the simulator draws from (``law(rng)``); ``sigma`` 0 is exponential.

    Only ``bench._bound`` reads the law itself: no predictor under test does.
    """

    mean_s: float
    sigma: float = 0.0

    def __call__(self, rng: random.Random) -> float:
        if self.sigma == 0:
            return rng.expovariate(1 / self.mean_s)
        return rng.lognormvariate(math.log(self.mean_s) - self.sigma**2 / 2, self.sigma)

    def rest(self, rng: random.Random, elapsed: float) -> float:
        """A draw of ``D - elapsed`` given ``D > elapsed`` (inverse transform)."""
        if self.sigma == 0:
            return rng.expovariate(1 / self.mean_s)
        law = NormalDist(math.log(self.mean_s) - self.sigma**2 / 2, self.sigma)
        low = law.cdf(math.log(elapsed)) if elapsed > 0 else 0.0
        u = low + (1.0 - low) * rng.random()
        return max(math.exp(law.inv_cdf(min(max(u, 1e-300), 1 - 1e-16))) - elapsed, 0.0)


def lognormal(mean_s: float, sigma: float) -> Law:
    return Law(mean_s, sigma)


def exponential(mean_s: float) -> Law:
    return Law(mean_s)


HANDLE: dict[str, Draw] = {
    "sales": exponential(240),
    "support": lognormal(360, 0.9),
    "billing": lambda rng: rng.gammavariate(4, 180 / 4),
    "tech": lambda rng: 120 * rng.uniform(0.7, 1.3) if rng.random() < 0.7 else rng.uniform(400, 800),
}
MEAN_HANDLE = {"sales": 240.0, "support": 360.0, "billing": 180.0, "tech": 264.0}
# Agents: (count, skills); multi-skilled ones have a lower proficiency in their second skills.
MULTI = [(12, ["sales"]), (10, ["support"]), (6, ["billing"]), (6, ["tech"]),
         (6, ["sales", "billing"]), (5, ["support", "tech"]), (5, ["support", "sales", "tech"])]
SINGLE = [(50, ["support"])]


def steady(t: float, skill: str) -> float:
    return 1.0


def working_day(t: float, skill: str) -> float:
    """From 0.5 to 1.15 of the base rate over 10 hours: peaks at 2 h 30 and 7 h 30."""
    hours = (t / HOUR) % 10
    return 0.5 + 0.65 * math.sin(math.pi * hours / 5) ** 2


def wave_and_bursts(t: float, skill: str) -> float:
    """The original bench's: a 6-hour wave per skill and a 1.5x burst now and then."""
    wave = 1 + 0.3 * math.sin(2 * math.pi * t / (6 * HOUR) + len(skill))
    burst = 1.5 if (t // 1200) % 7 == len(skill) % 7 else 1.0
    return wave * burst


@dataclass(frozen=True)
class Scenario:
    name: str
    staff: list[tuple[int, list[str]]]
    load: float  # offered load / working agents, on average
    shape: Callable[[float, str], float]  # the arrival rate's multiplier over time
    peak: float  # an upper bound of ``shape``
    patience: Draw | None = None  # None: nobody hangs up
    breaks: bool = False  # breaks, shift changes, late starters
    priority: float = 0.0  # share of priority callers
    no_answer: float = 0.0  # share of offers the agent does not answer
    handle: tuple[tuple[str, Draw], ...] = tuple(HANDLE.items())

    @property
    def skills(self) -> list[str]:
        return sorted({s for _, skills in self.staff for s in skills})

    def draw_handle(self, skill: str, rng: random.Random) -> float:
        return dict(self.handle)[skill](rng)

    @property
    def available(self) -> float:
        """The share of the agents working at a time (breaks: 10 of every 60 minutes, and
        one in ten away at a time for shifts)."""
        return 0.9 * 50 / 60 if self.breaks else 1.0


SCENARIOS = [
    Scenario("day", SINGLE, 0.92, working_day, 1.15),
    Scenario("patience-exp", SINGLE, 0.97, steady, 1.0, patience=exponential(180)),
    Scenario("patience-lognormal", SINGLE, 0.97, steady, 1.0, patience=lognormal(180, 1.0)),
    Scenario("multi-skill", MULTI, 0.9, steady, 1.0),
    Scenario("shifts", SINGLE, 0.9, steady, 1.0, breaks=True),
    Scenario("mixed", MULTI, 0.85, wave_and_bursts, 1.3 * 1.5, patience=exponential(400),
             breaks=True, priority=0.1, no_answer=0.03),
]

"""Reconnect delays: exponential with jitter, never below half the nominal step."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class ReconnectPolicy:
    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0
    # The delay is drawn in [nominal * (1 - jitter), nominal]: jitter < 1 keeps a floor,
    # so a peer that refuses at once can never make the client spin.
    jitter: float = 0.5
    # A connection that stayed up this long is "good": the next failure starts over.
    stable_after: float = 5.0

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError(f"invalid reconnect policy {self!r}")


class Backoff:
    def __init__(self, policy: ReconnectPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._rng = rng or random.Random()
        self._attempt = 0

    def nominal(self) -> float:
        p = self.policy
        return min(p.maximum, p.initial * p.factor ** min(self._attempt, 64))

    def next_delay(self) -> float:
        nominal = self.nominal()
        self._attempt += 1
        return nominal * (1 - self.policy.jitter * self._rng.random())

    def reset(self) -> None:
        self._attempt = 0

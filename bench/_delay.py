"""The delay predictors of the queueing literature, as baselines for ``bench.wait_prediction``.

Ibrahim and Whitt, *Real-time delay estimation based on delay history* (Manufacturing & Service
Operations Management 11(3), 2009) and *Real-time delay estimation in overloaded multiserver
queues with abandonments* (Management Science 55(10), 2009) compare, for a customer who must
wait on arrival:

* LES, last-to-enter-service: the wait of the last customer of the queue to have entered
  service;
* HOL, head-of-line: how long the customer at the head of the queue has waited so far (the
  arrival itself when nobody waits before it: 0);
* QL, queue length: with ``n`` customers waiting ahead, ``s`` busy agents serving at rate
  ``mu`` each, and abandonment at rate ``theta`` per waiting customer (M/M/s+M), the arrival
  moves up once a customer ahead is served or leaves, so its expected wait is
  ``sum_{i=0..n} 1 / (s * mu + i * theta)`` (their QL_m; with ``theta = 0`` it is the classic
  ``(n + 1) / (s * mu)``).

Pure functions, and the little per-queue history (:class:`DelayHistory`) they read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def les(last_entered_wait: float | None) -> float:
    """LES: the last customer to enter service waited this long (0 before any did)."""
    return 0.0 if last_entered_wait is None else last_entered_wait


def hol(head_arrived_at: float | None, now: float) -> float:
    """HOL: the elapsed wait of the customer at the head of the line (0 if none waits)."""
    return 0.0 if head_arrived_at is None else max(now - head_arrived_at, 0.0)


def ql(ahead: int, servers: int, service_rate: float, abandon_rate: float = 0.0) -> float:
    """QL with abandonment (M/M/s+M): ``sum_{i=0..ahead} 1 / (servers * mu + i * theta)``.

    ``servers`` at least 1 (a queue with no agent logged in is treated as having one coming).
    """
    if ahead < 0 or service_rate <= 0 or abandon_rate < 0:
        raise ValueError("ahead >= 0, service_rate > 0 and abandon_rate >= 0")
    capacity = max(servers, 1) * service_rate
    if abandon_rate == 0.0:
        return (ahead + 1) / capacity
    return math.fsum(1.0 / (capacity + i * abandon_rate) for i in range(ahead + 1))


@dataclass
class DelayHistory:
    """What LES and the abandonment rate of QL learn from one queue's past."""

    last_entered_wait: float | None = None
    waited: float = 0.0  # total time spent waiting by the customers who left the queue
    abandoned: int = 0
    left: int = 0

    def entered_service(self, waited: float) -> None:
        self.last_entered_wait = waited
        self.waited += waited
        self.left += 1

    def abandon(self, waited: float) -> None:
        self.waited += waited
        self.abandoned += 1
        self.left += 1

    def abandon_rate(self) -> float:
        """Abandonments per second of waiting (the maximum-likelihood rate for exponential
        patience, served customers counting as censored); 0 before any."""
        return self.abandoned / self.waited if self.waited > 0 else 0.0

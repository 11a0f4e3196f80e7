"""One fault's figures in bench.resilience, and the summary line."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Outcome:
    fault: str
    calls: int = 0  # offered by the carrier during the phase (0: no calls, the mail fault)
    served: int = 0  # answered and talked to an agent for the hold
    fallback: int = 0  # refused with a final 4xx/5xx (the dialplan's fallback, the gate)
    failed: int = 0  # anything else: dropped, no BYE, no final answer
    lost_contacts: int = 0
    acked: int = 0  # web requests (or mail) acknowledged
    not_acked: int = 0  # web requests that got no acknowledgement (refused, no answer)
    lost_acks: int = 0
    server_errors: int = 0  # web answers 5xx other than 503 database-unavailable + Retry-After
    duplicates: int = 0  # double dials (agent legs), or mail delivered twice
    recover_s: float = math.nan
    note: str = ""

    def line(self) -> str:
        if self.calls:
            head = (f"callers: served={self.served} fallback={self.fallback} "
                    f"failed={self.failed} of {self.calls}; web: acked={self.acked} "
                    f"not_acked={self.not_acked} server_errors={self.server_errors}")
        else:
            head = f"mail: queued={self.acked}"
        return (f"{self.fault:14s} {head}; lost_contacts={self.lost_contacts} "
                f"lost_acks={self.lost_acks} double_dials={self.duplicates} "
                f"recover_s={self.recover_s:.1f}" + (f"; {self.note}" if self.note else ""))


def summary(outcomes: list[Outcome]) -> str:
    recover = max((o.recover_s for o in outcomes), default=math.nan)
    return (f"faults={len(outcomes)} lost_contacts={sum(o.lost_contacts for o in outcomes)} "
            f"lost_acks={sum(o.lost_acks for o in outcomes)} "
            f"double_dials={sum(o.duplicates for o in outcomes)} "
            f"max_recover_s={recover:.1f}")

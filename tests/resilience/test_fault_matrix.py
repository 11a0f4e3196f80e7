"""The fault matrix in its bounded form (``python -m bench.resilience --quick``), on the real
PBX: ccari killed -9, Asterisk killed (ccari restarts it), the ARI connection cut for a few
seconds, and the recordings directory full, each under 10 calls/s and callback requests
through the public API; and the outbox with its SMTP relay gone for a simulated hour.
For every fault: no contact lost, no acknowledged request lost, no agent leg dialled
twice, callers served again within a bound; a caller who is not served got the fallback,
except the calls Asterisk was carrying when it was killed."""

from __future__ import annotations

import math
import os
import re

import pytest

from bench.resilience import QUICK, main, parse

pytestmark = pytest.mark.pbx

RECOVER_S = 20.0  # from the dependency back to every call served (measured: see the report)


@pytest.mark.timeout(600)
async def test_quick_fault_matrix_loses_nothing_and_recovers(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["--quick"])
    outcomes = await main(args)
    print(capsys.readouterr().out)
    expected = [f for f in QUICK if f != "disk-full" or os.geteuid() == 0]
    assert [o.fault for o in outcomes] == expected
    for o in outcomes:
        assert (o.lost_contacts, o.lost_acks, o.duplicates) == (0, 0, 0), o.line()
        assert o.server_errors == 0, o.line()
        assert o.acked > 0 and math.isfinite(o.recover_s), o.line()
        if o.fault == "smtp-down":  # simulated: an hour away, then every reply out once
            m = re.search(r"(\d+) replies queued, delivered=(\d+) .* the last (\d+)s after", o.note)
            assert m is not None, o.note
            queued, delivered, last_s = map(int, m.groups())
            assert queued == delivered > 0 and last_s <= 300, o.line()
            continue
        assert o.served > 0 and o.recover_s <= RECOVER_S, o.line()
        if o.fault != "asterisk-kill":  # the calls a dead Asterisk carried are gone with it
            assert o.failed == 0, o.line()
        if o.fault == "disk-full":
            m = re.search(r"stored=(\d+) not_stored=(\d+) store_failures_counted=(\d+)", o.note)
            assert m is not None, o.note
            stored, not_stored, failures = map(int, m.groups())
            assert stored > 0 and not_stored == 0 and failures > 0, o.line()


@pytest.mark.timeout(400)
async def test_quick_postgres_outage_turns_callers_away_and_loses_nothing(
        capsys: pytest.CaptureFixture[str]) -> None:
    """ccari on PostgreSQL, stopped (``-m immediate``) for a few seconds under the load:
    callers who arrive meanwhile get the fallback (not silence), the calls that end meanwhile
    are closed once it is back, web requests meanwhile get 503 database-unavailable with
    Retry-After (no other 5xx), and nothing acknowledged is lost."""
    args = parse(["--quick", "--db", "postgres", "--only", "postgres-stop"])
    [o] = await main(args)
    print(capsys.readouterr().out)
    assert (o.lost_contacts, o.lost_acks, o.duplicates, o.failed) == (0, 0, 0, 0), o.line()
    assert o.served > 0 and o.fallback > 0 and o.acked > 0, o.line()
    assert o.server_errors == 0 and "503 database-unavailable" in o.note, o.line()
    assert math.isfinite(o.recover_s) and o.recover_s <= RECOVER_S, o.line()

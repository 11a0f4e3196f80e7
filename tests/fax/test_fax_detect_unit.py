"""The fax detection adapter alone (a fake ARI): it listens only where the tenant asks, and
tells a caller sent away by the detection from one who hung up."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from ccari.ari.errors import AriNotFound
from ccari.ari.models import Channel
from ccari.fax.detect import FaxDetection
from ccari.voice.calls import Call, QueueSettings


class FakeAri:
    def __init__(self) -> None:
        self.vars: dict[str, dict[str, str]] = {}
        self.gone: set[str] = set()
        self.channels: list[Channel] = []

    async def list_channels(self) -> list[Channel]:
        return self.channels

    async def set_var(self, channel: str, name: str, value: str) -> None:
        if channel in self.gone:
            raise AriNotFound("no such channel", status_code=404)
        self.vars.setdefault(channel, {})[name] = value

    async def get_var(self, channel: str, name: str) -> str:
        if channel in self.gone:
            raise AriNotFound("no such channel", status_code=404)
        return self.vars.get(channel, {}).get(name, "")


class Policies:
    def __init__(self, on: set[int]) -> None:
        self.on = on

    async def detects_on_voice(self, tenant_id: int) -> bool:
        return tenant_id in self.on


def call(channel: str, tenant_id: int) -> Call:
    return Call(f"c-{channel}", tenant_id, channel, QueueSettings(30, 5.0, 60.0))


def detection(ari: FakeAri, on: set[int]) -> FaxDetection:
    return FaxDetection(cast(Any, ari), cast(Any, Policies(on)), 8.0)


@pytest.mark.parametrize(("tenant", "armed"), [(1, True), (2, False)])
async def test_only_a_tenant_that_detects_faxes_gets_the_detector(tenant: int,
                                                                 armed: bool) -> None:
    ari = FakeAri()
    await detection(ari, {1}).arm(call("ch1", tenant))
    expected = {"CCARI_FAX_TENANT": str(tenant), "FAXOPT(faxdetect)": "yes,8"} if armed else {}
    assert ari.vars.get("ch1", {}) == expected


@pytest.mark.parametrize(("faxexten", "hung_up", "why"), [
    ("15550100", False, "fax-detected"),  # Asterisk sent it to the fax extension
    ("", False, None),  # left Stasis for another reason (ccari sent it on)
    ("", True, None),  # hung up
])
async def test_a_caller_leaving_stasis_is_told_apart(faxexten: str, hung_up: bool,
                                                     why: str | None) -> None:
    ari = FakeAri()
    detector = detection(ari, {1})
    await detector.arm(call("ch1", 1))
    if faxexten:
        ari.vars["ch1"]["FAXEXTEN"] = faxexten
    if hung_up:
        ari.gone.add("ch1")
    assert await detector.left("ch1") == why
    ari.vars.setdefault("ch1", {})["FAXEXTEN"] = "15550100"
    assert await detector.left("ch1") is None  # told once; a call never armed: never asked


async def test_a_caller_gone_before_the_detector_is_forgotten() -> None:
    ari = FakeAri()
    ari.gone.add("ch1")
    detector = detection(ari, {1})
    await detector.arm(call("ch1", 1))
    ari.gone.clear()
    ari.vars["ch1"] = {"FAXEXTEN": "15550100"}
    assert await detector.left("ch1") is None


NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


async def test_a_restarted_ccari_listens_again_to_callers_still_in_their_window() -> None:
    """A previous process armed ch-young and ch-old (the tenant variable on the channel);
    ch-plain was never armed; ch-gone hangs up as it is asked."""
    ari = FakeAri()
    ago = {"ch-young": 3, "ch-old": 60, "ch-plain": 2, "ch-gone": 1}
    ari.channels = [Channel(id=c, creationtime=NOW - dt.timedelta(seconds=s))
                    for c, s in ago.items()]
    for armed in ("ch-young", "ch-old", "ch-gone"):
        ari.vars[armed] = {"CCARI_FAX_TENANT": "1", "FAXEXTEN": "15550100"}
    ari.vars["ch-plain"] = {"FAXEXTEN": "15550100"}
    ari.gone.add("ch-gone")
    detector = FaxDetection(cast(Any, ari), cast(Any, Policies({1})), 8.0, now=lambda: NOW)
    await detector.reconcile()
    ari.gone.clear()
    told = {c: await detector.left(c) for c in ago}
    assert told == {"ch-young": "fax-detected", "ch-old": None, "ch-plain": None,
                    "ch-gone": None}

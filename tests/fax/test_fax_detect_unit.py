"""The fax detection adapter alone (a fake ARI): it listens only where the tenant asks, and
tells a caller sent away by the detection from one who hung up."""

from __future__ import annotations

from typing import Any, cast

import pytest

from ccari.ari.errors import AriNotFound
from ccari.fax.detect import FaxDetection
from ccari.fax.models import FaxPolicy
from ccari.voice.calls import Call, QueueSettings


class FakeAri:
    def __init__(self) -> None:
        self.vars: dict[str, dict[str, str]] = {}
        self.gone: set[str] = set()

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

    async def policy(self, tenant_id: int) -> FaxPolicy:
        return FaxPolicy(tenant_id=tenant_id, detect_on_voice=tenant_id in self.on)


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

"""What the router is told of an agent: her slots, less the media she cannot take now (no
phone reachable: voice; no page open: the media presented on the page)."""

from __future__ import annotations

import pytest

from ccari.contacts.routing import router_agent
from ccari.routing import Medium
from ccari.storage.models import Agent

PAGE = frozenset({Medium.CHAT, Medium.EMAIL, Medium.VOICEMAIL})
BLENDED = {"per_medium": {"voice": 1, "chat": 2, "email": 1, "voicemail": 1}, "total": 3}


@pytest.mark.parametrize(
    ("phone", "page", "per_medium"),
    [
        (True, True, {Medium.VOICE: 1, Medium.CHAT: 2, Medium.EMAIL: 1, Medium.VOICEMAIL: 1}),
        (True, False, {Medium.VOICE: 1, Medium.CHAT: 0, Medium.EMAIL: 0, Medium.VOICEMAIL: 0}),
        (False, True, {Medium.VOICE: 0, Medium.CHAT: 2, Medium.EMAIL: 1, Medium.VOICEMAIL: 1}),
        (False, False, {Medium.VOICE: 0, Medium.CHAT: 0, Medium.EMAIL: 0, Medium.VOICEMAIL: 0}),
    ],
)
def test_slots_follow_the_phone_and_the_page(
    phone: bool, page: bool, per_medium: dict[Medium, int]
) -> None:
    agent = Agent(id=7, tenant_id=1, site_id=None, slots=BLENDED, skills=[])
    spec = router_agent(agent, phone=phone, page=page, page_media=PAGE).slots
    assert dict(spec.per_medium) == per_medium
    assert spec.total == 3 and spec.exclusive == frozenset({Medium.VOICE})


def test_a_voice_only_agent_is_untouched_by_her_page() -> None:
    agent = Agent(id=7, tenant_id=1, site_id=None, slots=None, skills=[])
    spec = router_agent(agent, page=False, page_media=PAGE).slots
    assert dict(spec.per_medium) == {Medium.VOICE: 1} and spec.total == 1

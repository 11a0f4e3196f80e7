"""What the router is told of an agent: her slots, less the media she cannot take now (no
phone reachable: voice; no page open: the media presented on the page)."""

from __future__ import annotations

import pytest

from ccari.contacts.routing import requirements_from, router_agent
from ccari.routing import Medium, QueueRule, Router, Rules, WorkItem
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


# ---- video: a video contact needs a video slot, on a phone in the agent page ------------
VIDEO = {"per_medium": {"voice": 1, "video": 1, "chat": 2}, "total": 2, "exclusive": ["voice"]}
VOICE_ONLY = {"per_medium": {"voice": 1, "chat": 2}, "total": 2, "exclusive": ["voice"]}


@pytest.mark.parametrize(
    ("device", "slots", "phone", "video"),
    [
        ("browser", VIDEO, True, 1),  # the one who gets video calls
        ("browser", VIDEO, False, 0),  # her page's phone unregistered: no call of any kind
        ("browser", VOICE_ONLY, True, 0),  # no video slot in the admin data
        ("sip", VIDEO, True, 0),  # a SIP phone never gets video, whatever its slots say
        ("sip-tls", VIDEO, True, 0),
    ],
)
def test_a_video_slot_counts_only_for_a_browser_phone(
    device: str, slots: dict[str, object], phone: bool, video: int
) -> None:
    agent = Agent(id=7, tenant_id=1, site_id=None, device=device, slots=slots, skills=[])
    spec = router_agent(agent, phone=phone).slots
    assert spec.capacity(Medium.VIDEO) == video
    assert spec.capacity(Medium.VOICE) == (1 if phone else 0)
    if Medium.VIDEO in spec.per_medium:  # a call is handled alone, voice or video
        assert spec.exclusive == frozenset({Medium.VOICE, Medium.VIDEO})


@pytest.mark.parametrize(
    ("agents", "offered"),
    [
        # (id, device, slots, proficiency in sales): the video contact skips who cannot
        # take video, however skilled, and goes to the video agent.
        ([(1, "sip", VIDEO, 9), (2, "browser", VOICE_ONLY, 9), (3, "browser", VIDEO, 1)], "3"),
        ([(1, "sip", VIDEO, 9), (2, "browser", VOICE_ONLY, 9)], None),  # waits
        ([(2, "browser", VIDEO, 1), (3, "browser", VIDEO, 9)], "3"),  # then by skill
    ],
)
def test_a_video_contact_skips_the_agents_without_video(
    agents: list[tuple[int, str, dict[str, object], int]], offered: str | None
) -> None:
    router = Router(Rules(default=QueueRule()))
    for agent_id, device, slots, level in agents:
        row = Agent(id=agent_id, tenant_id=1, site_id=None, device=device, slots=slots, skills=[])
        router.agent_login(router_agent(row, attributes={("skill", "sales"): level}), 0.0,
                           ready=True)
    item = WorkItem("c1", "1", Medium.VIDEO, requirements_from({"skill": "sales"}), arrived_at=1.0)
    offers = router.add_item(item, 1.0)
    assert [o.agent_id for o in offers] == ([offered] if offered else [])
    assert all(o.medium is Medium.VIDEO for o in offers)
    # The same agents all take a voice call of that skill (the best one gets it).
    voice = router.add_item(WorkItem("c2", "1", Medium.VOICE, item.requirements, arrived_at=2.0), 2.0)
    assert len(voice) == 1

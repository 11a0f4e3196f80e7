"""A call sent back to the queue (a skill, or a colleague by name), against a fake of ARI that
keeps Asterisk's timing of a bridge's end (the real PBX's side is in
``test_rtp_continuity_pbx.py`` and ``test_transfers_pbx.py``): the caller hears the queue's
announcement at once, not silence until the next one.

Asterisk answers ``DELETE /bridges/{id}`` before the channels have left the bridge (each
departs on its own thread); a playback asked of a channel still on its way out is queued to
the bridge it is leaving and never plays, with no event to say so.  ``removeChannel`` is
answered once the channel is out."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ccari.ari.errors import AriError
from ccari.config import VoiceConfig
from ccari.storage.models import Agent
from ccari.tasks import TaskSet
from ccari.voice.calls import Call, CallRegistry, QueueSettings
from ccari.voice.hold import Hold
from ccari.voice.transfers import Transfers
from tests.support.waits import eventually

CALLER, AGENT_LEG, BRIDGE = "caller-1", "agent-c0ffee-1", "bridge-c0ffee"


class Asterisk:
    def __init__(self) -> None:
        self.bridged = {CALLER: BRIDGE, AGENT_LEG: BRIDGE}  # channel -> the bridge it is in
        self.played: list[str] = []  # the playbacks the caller heard
        self.lost: list[str] = []  # asked while the caller was still in a bridge's hands
        self.refused: list[str] = []  # removals of a channel not in the bridge (422)

    async def remove_channel(self, bridge: str, channel: str | list[str]) -> None:
        for ch in [channel] if isinstance(channel, str) else channel:
            if self.bridged.get(ch) != bridge:
                self.refused.append(ch)
                raise AriError("Channel not in this bridge", status_code=422)
            del self.bridged[ch]

    async def destroy_bridge(self, bridge: str) -> None:
        """Answered at once; its channels leave it later, on their own threads."""

    async def hangup(self, channel: str, reason: str = "normal") -> None:
        self.bridged.pop(channel, None)

    async def play(self, channel: str, media: list[str], *, playback_id: str) -> None:
        (self.lost if channel in self.bridged else self.played).append(playback_id)

    async def start_moh(self, channel: str, moh_class: str | None = None) -> None:
        pass

    async def stop_moh(self, channel: str) -> None:
        pass

    async def stop_playback(self, playback_id: str) -> None:
        pass


@dataclass
class View:
    position: int = 1
    predicted_wait_s: float = 90.0


class Queue:
    def __init__(self) -> None:
        self.enqueued: list[object] = []

    def view(self, contact_id: str) -> View:
        return View()

    async def enqueue(self, contact: object) -> None:
        self.enqueued.append(contact)

    async def completed(self, contact_id: str, agent_id: int, wrap_up_s: float) -> None:
        pass


class Session:
    async def scalar(self, statement: object) -> None:
        return None  # no row: nothing to log, the attributes are the transfer's alone


class Writes:
    async def run(self, work: object) -> object:
        return object()  # the contact, saved as transferred


class Voice:
    """What the transfers use of the voice service."""

    node = "n1"

    def __init__(self, ari: Asterisk, queue: Queue, tasks: TaskSet) -> None:
        self.ari = ari
        self.calls = CallRegistry()
        self.writes = Writes()
        self.config = VoiceConfig()
        self.hold = Hold(ari, queue, self.config, tasks, lambda name: f"sound:{name}")  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def sessions(self) -> AsyncIterator[Session]:
        yield Session()

    def now(self) -> dt.datetime:
        return dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    async def log_event(self, contact_id: str, tenant_id: int, kind: str, **data: Any) -> None:
        pass  # the contact's history: not what this is about

    async def hangup(self, channel_id: str) -> None:
        await self.ari.hangup(channel_id)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.ari.destroy_bridge(bridge_id)

    async def left_agent(self, contact_id: str) -> None:
        pass


def connected_call() -> Call:
    call = Call("c0ffee", 1, CALLER, QueueSettings(15, 0, 3600))
    call.phase, call.agent_id, call.bridge_id = "connected", 7, BRIDGE
    call.agent_channel_id = AGENT_LEG
    return call


async def transferred(held: bool = False) -> tuple[Asterisk, Call]:
    ari, queue, tasks = Asterisk(), Queue(), TaskSet("voice")
    voice = Voice(ari, queue, tasks)
    call = connected_call()
    if held:  # the agent's hold took the caller out of the bridge, with the music
        del ari.bridged[CALLER]
        call.held_at, call.moh = 0.0, True
    transfers = Transfers(voice, queue, None, trunk="carrier", host="127.0.0.1")  # type: ignore[arg-type]
    agent: Any = Agent(id=7, tenant_id=1, username="alice")
    assert await transfers.to_skill(agent, call, "support") == {
        "type": "transferred", "contact_id": "c0ffee"}
    async def announced() -> bool:  # the hold's first announcement, heard or lost
        return bool(ari.played or ari.lost)

    await eventually(announced, 5, "the queue's first announcement asked for")
    await tasks.close()
    assert queue.enqueued and call.phase == "queued"
    return ari, call


async def test_the_caller_is_out_of_the_bridge_before_the_queue_s_announcement() -> None:
    ari, call = await transferred()
    assert ari.lost == [] and len(ari.played) == 1, (ari.played, ari.lost)
    assert ari.bridged == {}


async def test_a_held_caller_sent_back_hears_the_announcement_too() -> None:
    ari, call = await transferred(held=True)
    assert ari.lost == [] and len(ari.played) == 1, (ari.played, ari.lost)
    assert ari.refused == []  # not asked to leave a bridge it is not in

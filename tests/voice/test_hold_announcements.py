"""What a waiting caller hears, against a recording fake of ARI (the real PBX's side is in
``test_rtp_continuity_pbx.py`` and ``test_transfers_pbx.py``): each announcement has a playback
id of its own, even across two waits of one call, and a refused announcement gives way to the
music at once instead of leaving the caller in silence until the next one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ccari.ari.errors import AriError
from ccari.config import VoiceConfig
from ccari.tasks import TaskSet
from ccari.voice.calls import Call, QueueSettings
from ccari.voice.hold import Hold


@dataclass
class View:
    position: int = 1
    predicted_wait_s: float = 90.0


class Queue:
    def view(self, contact_id: str) -> View:
        return View()


class Ari:
    def __init__(self, refuse_play: bool = False) -> None:
        self.refuse_play = refuse_play
        self.requests: list[tuple[str, Any]] = []

    async def play(self, channel: str, media: list[str], *, playback_id: str) -> None:
        self.requests.append(("play", playback_id))
        if self.refuse_play:
            raise AriError("playback refused", status_code=500)

    async def start_moh(self, channel: str, moh_class: str) -> None:
        self.requests.append(("moh", channel))

    async def stop_moh(self, channel: str) -> None:
        self.requests.append(("stop-moh", channel))

    async def stop_playback(self, playback_id: str) -> None:
        self.requests.append(("stop", playback_id))


def waiting(every_s: float = 3600) -> Call:
    call = Call("c0ffee", 1, "caller-1", QueueSettings(15, 0, every_s))
    call.phase = "queued"
    return call


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_refused_announcement_gives_way_to_the_music_at_once() -> None:
    ari, tasks = Ari(refuse_play=True), TaskSet("hold")
    hold = Hold(ari, Queue(), VoiceConfig(), tasks, lambda name: f"sound:{name}")  # type: ignore[arg-type]
    call = waiting()
    hold.start(call)
    await settle()
    assert [kind for kind, _ in ari.requests] == ["play", "moh"]
    assert call.moh is True and call.playback_id is None
    await tasks.close()


async def test_a_second_wait_announces_under_a_new_id_and_stops_the_first_waits_loop() -> None:
    ari, tasks = Ari(), TaskSet("hold")
    hold = Hold(ari, Queue(), VoiceConfig(), tasks, lambda name: f"sound:{name}")  # type: ignore[arg-type]
    call = waiting()
    hold.start(call)
    await settle()
    first_loop = call.announcer
    await hold.release(call)  # answered by an agent...
    call.phase = "queued"  # ...who sends it back to the queue
    hold.start(call)
    await settle()
    plays = [pid for kind, pid in ari.requests if kind == "play"]
    assert len(plays) == 2 and plays[0] != plays[1], plays
    assert first_loop is not None and first_loop.cancelled()
    # another process's announcements are never under this one's ids
    other = Hold(ari, Queue(), VoiceConfig(), tasks, lambda name: f"sound:{name}")  # type: ignore[arg-type]
    again = waiting()
    other.start(again)
    await settle()
    plays = [pid for kind, pid in ari.requests if kind == "play"]
    assert len(set(plays)) == 3, plays
    await tasks.close()

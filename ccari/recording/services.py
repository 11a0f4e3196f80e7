"""Recording a call's bridge over ARI, per the tenant's policy (``policy.py``).

The row comes first (save, then tell Asterisk): :meth:`Recordings.start` saves a
``recording`` row and logs ``recording-started`` on the contact, then asks Asterisk to
record the bridge (``POST /bridges/{id}/record``), which then records every party until the
bridge is destroyed (the call ends or is transferred) or the agent stops it (on demand).

Pause and resume use ARI's *mute* of the live recording, not its *pause*: a muted
recording keeps writing, silence in place of the audio, so the file keeps the call's
timeline and the paused stretch is where it happened; a paused one leaves it out.  Each
stretch is kept on the row (seconds from the start) and logged on the contact
(``recording-paused``, ``recording-resumed``).

When Asterisk has closed the file (``RecordingFinished``, or the call's end seen by the
voice ACD), :meth:`finished` copies it into ccari's state dir with its SHA-256, marks the
row ``stored``, and only then deletes it from Asterisk.  ccari killed meanwhile: Asterisk
keeps writing; :meth:`reconcile` on the next ARI connect finds the rows still
``recording`` and keeps the ones whose recording has ended.  A file that cannot be written
(the recordings directory full, or unwritable) stays on Asterisk and its row open: the
failure is logged and counted (:attr:`Recordings.store_failures`), and the recordings that
end meanwhile wait in line without being fetched; one of them is tried again with backoff
until the directory takes it, then the others follow in order (a full disk costs one fetch
per try, not one per recording and retry), one at a time and paced (:data:`BACKLOG_PACE`).
No database connection is held while a file is fetched from Asterisk or written to the
disk: on SQLite ccari has one, which the live calls need meanwhile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.notifier import AgentHub
from ccari.ari import AriClient, ids
from ccari.ari.errors import AriError, AriNotFound
from ccari.ari.ids import Kind
from ccari.contacts import repo
from ccari.errors import Conflict, NotFound
from ccari.recording import files, policy
from ccari.recording.models import Recording
from ccari.storage.models import Contact, Queue, Tenant
from ccari.tasks import TaskSet
from ccari.voice.calls import Call
from ccari.voice.overflow import wav_seconds

log = logging.getLogger(__name__)
POLICY_TTL_S = 1.0  # a tenant's policy change applies to calls bridged from a second later
LIVE = ("queued", "recording", "paused")  # Asterisk's states of a live recording
OPEN = ("recording", "stopping")  # ours, until the file is kept (or known lost)
STORE_RETRY_S = (5.0, 60.0)  # a file not written: retried after 5 s, doubling up to 60 s
# The files that waited, once the directory takes them again: one at a time, at least 50 ms
# apart and at most 2 MB/s (a 2-minute call's file, ~2 MB, a second), so that storing a
# backlog of hundreds never crowds the database, Asterisk's HTTP or the disk of live calls.
BACKLOG_PACE = (0.05, 2_000_000.0)


class Recordings:
    def __init__(self, ari: AriClient, sessions: async_sessionmaker[AsyncSession],
                 state_dir: Path, hub: AgentHub, *, node: str,
                 now: Callable[[], dt.datetime],
                 pace: tuple[float, float] = BACKLOG_PACE) -> None:
        self._ari = ari
        self._hub = hub  # the agent's page hears of a recording the policy started
        self._sessions = sessions
        self._dir = state_dir
        self._node = node
        self._now = now
        self._finishing: set[str] = set()
        # Recordings waiting for the directory to take files again (oldest first), and the
        # one task that tries them (running exactly while some wait).
        self._unstored: dict[str, None] = {}
        self._store_task: asyncio.Task[None] | None = None
        self._pace = pace  # (seconds at least between two of them, bytes per second at most)
        self.store_failures = 0  # files that could not be written (each retry counts)
        self._tasks = TaskSet("recording")
        # Contacts whose bridge this process is recording: a call's end only looks for the
        # recording to keep when it has one (most calls have none).
        self._recording: set[str] = set()
        # Every tenant's policy document, read at most once a second while calls connect.
        self._policies: dict[int, Any] = {}
        self._policies_until = float("-inf")
        self._policies_lock = asyncio.Lock()

    # ---- the policy ------------------------------------------------------------------------
    async def mode_of(self, s: AsyncSession, contact: Contact) -> str:
        return await self._mode(s, contact.id)

    async def _mode(self, s: AsyncSession, contact_id: str) -> str:
        """The contact's recording mode: its tenant's policy for its queue (one read)."""
        row = (await s.execute(
            select(Tenant.recording, Queue.name).select_from(Contact)
            .join(Tenant, Tenant.id == Contact.tenant_id)
            .outerjoin(Queue, Queue.id == Contact.queue_id)
            .where(Contact.id == contact_id))).first()
        return policy.mode_for(row[0] if row else None, row[1] if row else None)

    async def _policy(self, tenant_id: int) -> Any:
        """The tenant's policy document as read less than :data:`POLICY_TTL_S` ago."""
        loop = asyncio.get_running_loop()
        async with self._policies_lock:
            if loop.time() >= self._policies_until:
                async with self._sessions() as s:
                    rows = (await s.execute(select(Tenant.id, Tenant.recording))).all()
                self._policies = {tid: doc for tid, doc in rows}
                self._policies_until = loop.time() + POLICY_TTL_S
            return self._policies.get(tenant_id)

    def forget_tenant(self, tenant_id: int) -> None:
        """A deleted tenant: its cached policy goes (``Runtime.tenant_gone``)."""
        self._policies.pop(tenant_id, None)

    async def connected(self, call: Call) -> None:
        """The call is bridged (the caller holds its lock): recorded if its mode is ``all``.
        The tenant's policy is cached for a second; its queue's override, if it has any,
        is read with the contact's queue (one statement)."""
        doc = await self._policy(call.tenant_id)
        if not doc:
            return
        if doc.get("queues"):
            async with self._sessions() as s:
                mode = await self._mode(s, call.contact_id)
        else:
            mode = policy.mode_for(doc, None)
        if mode != "all":
            return
        try:
            reply = await self.start(call, None)
        except Conflict:
            return  # logged; the call goes on unrecorded
        if call.agent_id is not None:
            await self._hub.send(call.agent_id, reply)

    # ---- the agent's commands (the caller holds the call's lock) ----------------------------
    async def start(self, call: Call, agent_id: int | None) -> dict[str, Any]:
        if call.bridge_id is None:
            raise Conflict("the call is not bridged", error_id="call-not-connected")
        async with self._sessions() as s:
            if await self._live(s, call.contact_id) is not None:
                raise Conflict("the call is being recorded", error_id="already-recording")
            contact = await repo.get(s, call.contact_id, call.tenant_id)
            if contact is None:
                raise NotFound("no such call", error_id="contact-not-found")
            if agent_id is not None and await self.mode_of(s, contact) == "none":
                raise Conflict("this call may not be recorded", error_id="recording-off")
            n = await s.scalar(select(func.count()).select_from(Recording)
                               .where(Recording.contact_id == call.contact_id))
            name = ids.make(Kind.RECORDING, call.contact_id, (n or 0) + 1)
            now = self._now()
            s.add(Recording(id=name, tenant_id=call.tenant_id, contact_id=call.contact_id,
                            node=self._node, state="recording", started_at=now, pauses=[]))
            # agent_id: who started it (None: the policy); on_call: the agent it records.
            await repo.log(s, contact, "recording-started", now, recording=name,
                           agent_id=agent_id, on_call=call.agent_id)
            await s.commit()
        self._recording.add(call.contact_id)
        try:
            await self._ari.record_bridge(call.bridge_id, name)
        except AriError as exc:
            log.warning("contact %s: recording %s did not start: %s", call.contact_id, name, exc)
            await self._set_state(name, "lost")
            raise Conflict("the recording did not start", error_id="recording-failed") from exc
        log.info("contact %s: recording %s", call.contact_id, name)
        return {"type": "recording", "contact_id": call.contact_id, "recording": name}

    async def stop(self, call: Call, agent_id: int) -> dict[str, Any]:
        async with self._sessions() as s:
            row = await self._live_or_409(s, call.contact_id)
            contact = await repo.get(s, call.contact_id, call.tenant_id)
            assert contact is not None
            if await self.mode_of(s, contact) == "all":
                raise Conflict("every call of this queue is recorded",
                               error_id="recording-required")
            # No longer the call's live recording (another may start at once); kept when
            # Asterisk has closed it.
            row.state = "stopping"
            await repo.log(s, contact, "recording-stopped", self._now(), recording=row.id,
                           agent_id=agent_id)
            await s.commit()
        try:
            await self._ari.stop_recording(row.id)
        except AriNotFound:
            await self.finished(row.id)  # it had ended already
        except AriError:
            # Asterisk records on: so does the record of it (the agent is told it failed).
            await self._undo(call, row.id, "recording-stop-failed", agent_id, state="recording")
            raise
        return {"type": "recording-stopped", "contact_id": call.contact_id, "recording": row.id}

    async def pause(self, call: Call, agent_id: int, paused: bool) -> dict[str, Any]:
        """Silence in the recording from now (``paused``), or the audio again."""
        async with self._sessions() as s:
            row = await self._live_or_409(s, call.contact_id)
            is_paused = bool(row.pauses) and row.pauses[-1][1] is None
            if is_paused == paused:
                raise Conflict("the recording is " + ("paused" if paused else "not paused"),
                               error_id="recording-paused" if paused else "recording-not-paused")
            now = self._now()
            at = round((now - row.started_at).total_seconds(), 3)
            data: dict[str, Any] = {"recording": row.id, "agent_id": agent_id, "at_s": at}
            before = list(row.pauses)
            if paused:
                row.pauses = [*row.pauses, [at, None]]
            else:
                since = row.pauses[-1][0]
                row.pauses = [*row.pauses[:-1], [since, at]]
                data["from_s"] = since
            contact = await repo.get(s, call.contact_id, call.tenant_id)
            assert contact is not None
            kind = "recording-paused" if paused else "recording-resumed"
            await repo.log(s, contact, kind, now, **data)
            await s.commit()
        try:
            await (self._ari.mute_recording(row.id) if paused
                   else self._ari.unmute_recording(row.id))
        except AriError:
            # What is saved is what Asterisk records: never a stretch said silent that was
            # not (a card number read out after a pause that did not happen).
            await self._undo(call, row.id, kind + "-failed", agent_id, pauses=before)
            raise
        log.info("contact %s: %s at %.1f s", call.contact_id, kind, at)
        return {"type": kind, "contact_id": call.contact_id, "recording": row.id}

    async def page_view(self, call: Call) -> list[dict[str, Any]]:
        """The call's recording for its agent's reopened page: on, or paused."""
        if call.contact_id not in self._recording:
            return []
        async with self._sessions() as s:
            row = await self._live(s, call.contact_id)
        if row is None:
            return []
        message = {"type": "recording", "contact_id": call.contact_id, "recording": row.id}
        paused = bool(row.pauses) and row.pauses[-1][1] is None
        return [message, {**message, "type": "recording-paused"}] if paused else [message]

    async def _live(self, s: AsyncSession, contact_id: str) -> Recording | None:
        row: Recording | None = await s.scalar(select(Recording).where(
            Recording.contact_id == contact_id, Recording.state == "recording"))
        return row

    async def _live_or_409(self, s: AsyncSession, contact_id: str) -> Recording:
        row = await self._live(s, contact_id)
        if row is None:
            raise Conflict("the call is not being recorded", error_id="not-recording")
        return row

    # ---- the end of a recording ------------------------------------------------------------
    async def agent_part_over(self, contact_id: str) -> None:
        """The call's bridge is gone: its recording ends; kept once Asterisk closed it (in a
        task of its own: the end of the call does not wait for the file)."""
        if contact_id not in self._recording:
            return
        self._recording.discard(contact_id)
        async with self._sessions() as s:
            row = await self._live(s, contact_id)
        if row is not None:
            self._tasks.spawn(self.when_closed(row.id), f"keep:{row.id}")

    async def close(self) -> None:
        await self._tasks.close()

    async def when_closed(self, name: str, within_s: float = 10.0) -> None:
        """Keep the recording once Asterisk has closed it; one still going after
        ``within_s`` is left to its ``RecordingFinished`` (or the next reconcile)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + within_s
        while True:
            try:
                live = await self._ari.live_recording(name)
            except AriNotFound:
                break
            if live.state not in LIVE:
                break
            if loop.time() >= until:
                log.warning("recording %s still %s after its call's end", name, live.state)
                return
            await asyncio.sleep(0.1)
        await self.finished(name)

    async def finished(self, name: str) -> None:
        """Asterisk closed the recording: its file into the state dir, then off Asterisk."""
        if self._unstored:  # the directory refuses files: in line, nothing fetched now
            self._unstored.setdefault(name)
            return
        if await self._keep_once(name) is None:
            self._unstored[name] = None
            if self._store_task is None:
                self._store_task = self._tasks.spawn(self._store_later(), "store-later")

    async def _keep_once(self, name: str) -> int | None:
        if name in self._finishing:
            return 0  # being kept
        self._finishing.add(name)
        try:
            return await self._keep(name)
        finally:
            self._finishing.discard(name)

    async def _store_later(self) -> None:
        """Try the oldest waiting recording with backoff; once it is stored, the others,
        paced (:data:`BACKLOG_PACE`): the calls' own work goes first."""
        delay = STORE_RETRY_S[0]
        gap_s, bytes_per_s = self._pace
        try:
            while self._unstored:
                await asyncio.sleep(delay)
                delay = min(2 * delay, STORE_RETRY_S[1])
                while self._unstored:
                    name = next(iter(self._unstored))
                    written = await self._keep_once(name)
                    if written is None:
                        break
                    self._unstored.pop(name, None)
                    delay = STORE_RETRY_S[0]
                    if self._unstored:
                        await asyncio.sleep(max(gap_s, written / bytes_per_s))
        finally:
            self._store_task = None

    async def _keep(self, name: str) -> int | None:
        """Keep the file if Asterisk has it: the bytes written (0: nothing to write), or
        None when it could not be written here.  No database connection is held while the
        file comes from Asterisk or goes to the disk: on SQLite there is one, and the calls'
        writes would wait behind a slow fetch or a slow fsync."""
        async with self._sessions() as s:
            row = await s.get(Recording, name)
            if row is None or row.state not in OPEN:
                return 0  # kept already
            relative = files.relative_path(row.tenant_id, name)
        try:
            audio = await self._ari.stored_recording_file(name)
        except AriNotFound:
            audio = None
        except AriError:
            log.warning("recording %s could not be fetched: left for the reconcile", name)
            return 0
        sha256 = None
        if audio is not None:
            try:
                sha256 = await asyncio.to_thread(files.write, self._dir, relative, audio)
            except OSError as exc:
                self.store_failures += 1
                log.warning("recording %s not stored (%s): it stays on Asterisk and is "
                            "written again later", name, exc)
                return None
        async with self._sessions() as s:
            row = await s.get(Recording, name)
            if row is None or row.state not in OPEN:
                return 0  # kept meanwhile (the same file, at the same place)
            now = self._now()
            contact = await repo.get(s, row.contact_id, row.tenant_id)
            if audio is None:
                row.state, row.ended_at = "lost", now
            else:
                row.sha256 = sha256
                row.state, row.ended_at, row.path, row.size = "stored", now, relative, len(audio)
                row.duration_s = round(wav_seconds(audio), 3)
                if row.pauses and row.pauses[-1][1] is None:  # paused until the end
                    row.pauses = [*row.pauses[:-1], [row.pauses[-1][0], row.duration_s]]
            if contact is not None:
                await repo.log(s, contact, f"recording-{row.state}", now, recording=name,
                               duration_s=row.duration_s, sha256=row.sha256)
            await s.commit()
        log.info("recording %s %s (%s s)", name, row.state, row.duration_s)
        if audio is None:
            return 0
        try:
            await self._ari.delete_stored_recording(name)
        except AriError as exc:
            log.info("recording %s: not deleted from Asterisk: %s", name, exc)
        return len(audio)

    async def reconcile(self) -> None:
        """After a connect: the recordings a previous process started and did not keep."""
        async with self._sessions() as s:
            rows = (await s.execute(select(Recording.id, Recording.contact_id).where(
                Recording.state.in_(OPEN), Recording.node == self._node))).all()
        for name, contact_id in rows:
            try:
                live = await self._ari.live_recording(name)
            except AriNotFound:
                live = None
            if live is not None and live.state in LIVE:
                log.info("reconcile: recording %s goes on", name)
                self._recording.add(contact_id)
                continue
            await self.finished(name)

    async def _undo(self, call: Call, name: str, kind: str, agent_id: int, *,
                    state: str | None = None, pauses: list[Any] | None = None) -> None:
        """An agent's change of the recording saved, then refused by Asterisk: saved back as
        Asterisk records it, with the failure in the contact's log."""
        async with self._sessions() as s:
            row = await s.get(Recording, name)
            contact = await repo.get(s, call.contact_id, call.tenant_id)
            if row is None or contact is None:
                return
            if state is not None:
                row.state = state
            if pauses is not None:
                row.pauses = pauses
            await repo.log(s, contact, kind, self._now(), recording=name, agent_id=agent_id)
            await s.commit()
        log.warning("contact %s: %s (recording %s)", call.contact_id, kind, name)

    async def _set_state(self, name: str, state: str) -> None:
        async with self._sessions() as s:
            row = await s.get(Recording, name)
            if row is not None:
                row.state = state
                await s.commit()

"""``AmiAdapter``: panoramisk's AMI wire protocol behind a supervisor we control.

panoramisk 1.4's ``Manager`` is not used: on a reconnect it re-sends every action that was
waiting for an answer (``AMIProtocol.close`` queues them, ``send_awaiting_actions`` replays
them on ``FullyBooted``), which could dial a customer twice; it reconnects from untracked
``call_later`` timers that ``close()`` does not cancel, schedules event coroutines with
untracked ``ensure_future``, and a handler exception inside ``data_received`` kills the
connection.  We keep its parser and response correlation (``AMIProtocol``, ``Action``) and
own the rest:

* one named supervisor task connects, logs in, pings (a half-open peer is dropped when a
  Ping goes unanswered) and reconnects with jittered exponential backoff;
* on a disconnect, every in-flight non-idempotent action (Originate...) fails at once with
  ``AmiActionLost``; only read-only ones (Ping, Status, ``core show ...``) with no answer
  yet are re-sent after the next login;
* events go through per-``Uniqueid`` serial lanes to handlers; a failing handler is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from panoramisk.actions import Action

from ccari.ami.actions import (
    AmiMessage,
    OriginateResult,
    action_name,
    command_output,
    is_idempotent,
    make_action,
    originate_action,
    originate_result,
    to_dict,
)
from ccari.ami.errors import (
    AmiActionLost,
    AmiAuthError,
    AmiError,
    AmiResponseError,
    AmiTimeout,
    AmiUnavailable,
)
from ccari.ami.events import AmiHandler, EventRouter
from ccari.ami.protocol import Factory, WireProtocol
from ccari.ari.backoff import Backoff, ReconnectPolicy
from ccari.tasks import ready_or_ended

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    action: Action
    idempotent: bool
    replay: bool = False


class AmiAdapter:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 10.0,
        ping_interval: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        events: str = "on",
    ) -> None:
        self.host, self.port = host, port
        self._username, self._secret, self._events = username, secret, events
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        self._backoff = Backoff(reconnect or ReconnectPolicy())
        self._router = EventRouter()
        self._factory = Factory(self._router.feed)
        self._protocol: WireProtocol | None = None
        self._lost: asyncio.Future[None] | None = None
        self._inflight: dict[str, _Pending] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._ever_logged_in = False
        self._closed = False
        self.connect_attempts = 0
        self.last_error: BaseException | None = None

    # --- public API -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Connected and logged in."""
        return self._ready.is_set()

    async def wait_connected(self) -> None:
        await self._ready.wait()

    def on_event(self, name: str, handler: AmiHandler) -> None:
        """Call ``handler(event)`` for events named ``name`` (any case) or all with "*"."""
        self._router.on(name, handler)

    async def join(self) -> None:
        """Wait until every dispatched event has been handled."""
        await self._router.join()

    async def connect(self) -> None:
        """Start; return once logged in, raise ``AmiAuthError`` on bad credentials or
        ``AmiUnavailable`` after ``connect_timeout``."""
        if self._task is not None:
            raise RuntimeError("AmiAdapter.connect() called twice")
        self._task = asyncio.create_task(self._supervise(), name="ami:supervisor")
        await ready_or_ended(self._ready, self._task, self._connect_timeout, "ami:connect")
        if self.connected:
            return
        failure, gave_up = self.last_error, self._task.done()
        await self.close()
        if gave_up and isinstance(failure, AmiError):  # credentials rejected
            raise failure
        raise AmiUnavailable(
            f"AMI {self.host}:{self.port}: not connected within {self._connect_timeout}s"
            f" (last error: {failure!r})"
        ) from failure

    async def close(self) -> None:
        """Stop everything; actions still in flight fail with ``AmiActionLost``."""
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._router.close()

    async def send(
        self,
        action: Mapping[str, str | Sequence[str]],
        *,
        idempotent: bool | None = None,
        as_list: bool | None = None,
        check: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 - per-action deadline, documented
    ) -> AmiMessage | list[AmiMessage]:
        """Send one action, wait (for the connection, then the answer) at most ``timeout``.

        Returns the response, or the list of messages of a multi-message answer (e.g.
        ``Status``).  ``check`` raises ``AmiResponseError`` on ``Response: Error``.
        ``idempotent`` overrides :func:`is_idempotent` (the replay decision)."""
        result = await self._send_raw(action, idempotent, as_list, timeout)
        messages = result if isinstance(result, list) else [result]
        if check and messages and str(messages[0].get("Response", "")).lower() == "error":
            first = to_dict(messages[0])
            raise AmiResponseError(f"{action_name(action)}: {first.get('Message', 'error')}", first)
        return [to_dict(m) for m in result] if isinstance(result, list) else to_dict(result)

    async def command(self, cli: str) -> list[str]:
        """Run a CLI command; its output lines."""
        raw = await self._send_raw({"Action": "Command", "Command": cli}, None, False, None)
        return command_output(raw[0] if isinstance(raw, list) else raw)

    async def reload(self, module: str | None = None) -> None:
        action = {"Action": "Reload"} | ({"Module": module} if module else {})
        await self.send(action)

    async def originate(
        self,
        *,
        action_id: str,
        channel_id: str,
        channel: str,
        context: str | None = None,
        exten: str | None = None,
        priority: int | None = None,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        timeout_ms: int = 30000,
        other_channel_id: str | None = None,
    ) -> OriginateResult:
        """An async Originate with the caller's stable ActionID and ChannelId.

        Never re-sent: a lost connection raises ``AmiActionLost``, a late answer
        ``AmiTimeout``; look ``channel_id`` up (or wait for its events) before retrying."""
        action = originate_action(
            action_id=action_id,
            channel_id=channel_id,
            channel=channel,
            context=context,
            exten=exten,
            priority=priority,
            application=application,
            data=data,
            caller_id=caller_id,
            variables=variables,
            timeout_ms=timeout_ms,
            other_channel_id=other_channel_id,
        )
        raw = await self._send_raw(action, False, None, timeout_ms / 1000 + self._timeout)
        return originate_result(raw if isinstance(raw, list) else [raw])

    # --- actions ----------------------------------------------------------------------

    async def _send_raw(
        self,
        action: Mapping[str, str | Sequence[str]],
        idempotent: bool | None,
        as_list: bool | None,
        deadline: float | None,
    ) -> Any:
        if self._closed:
            raise AmiUnavailable("AMI adapter is closed")
        act = make_action(action, as_list)
        replayable = is_idempotent(act) if idempotent is None else idempotent
        deadline = self._timeout if deadline is None else deadline
        try:
            async with asyncio.timeout(deadline):
                await self._ready.wait()
                return await self._exchange(act, replayable)
        except TimeoutError as exc:
            raise AmiTimeout(f"{action_name(act)} {act['ActionID']}: no answer in {deadline}s") from exc

    async def _exchange(self, act: Action, replayable: bool) -> Any:
        """Write ``act`` on the live connection and wait for its answer."""
        action_id = str(act["ActionID"])
        if action_id in self._inflight:
            raise AmiError(f"ActionID {action_id} is already in flight")
        protocol = self._protocol
        assert protocol is not None, "only called while logged in"
        self._inflight[action_id] = _Pending(act, replayable)
        try:
            protocol.send(act, as_list=act.as_list)
            return await act.future
        finally:
            self._inflight.pop(action_id, None)
            if self._protocol is not None:
                self._protocol.responses.pop(act.id, None)
                self._protocol.responses.pop(action_id, None)

    def _on_lost(self, protocol: WireProtocol) -> None:
        """Runs synchronously when a connection ends: nothing can be sent on it after."""
        if protocol is not self._protocol:
            return
        self._protocol = None
        self._ready.clear()
        for pending in self._inflight.values():
            act = pending.action
            if act.future.done():
                continue
            if pending.idempotent and not act.responses:
                pending.replay = True
            else:
                log.warning("AMI: %s %s lost with the connection", action_name(act), act["ActionID"])
                act.future.set_exception(_lost(act))
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _fail_all(self) -> None:
        for pending in self._inflight.values():
            act = pending.action
            if not act.future.done():
                act.future.set_exception(_lost(act))

    # --- connection -------------------------------------------------------------------

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                try:
                    await self._session()
                    log.warning("AMI %s:%s: connection lost", self.host, self.port)
                except AmiAuthError as exc:
                    self.last_error = exc
                    log.error("AMI %s:%s: %s", self.host, self.port, exc)
                    if not self._ever_logged_in:
                        return
                except (AmiError, OSError, TimeoutError) as exc:
                    self.last_error = exc
                    log.warning("AMI %s:%s: connection failed: %r", self.host, self.port, exc)
                except Exception as exc:  # a bug must not end the supervisor silently
                    self.last_error = exc
                    log.exception("AMI %s:%s: unexpected failure", self.host, self.port)
                if loop.time() - started >= self._backoff.policy.stable_after:
                    self._backoff.reset()
                delay = self._backoff.next_delay()
                log.info("AMI %s:%s: reconnecting in %.2fs", self.host, self.port, delay)
                await asyncio.sleep(delay)
        finally:
            self._ready.clear()
            self._fail_all()

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        self.connect_attempts += 1
        self._lost = lost = loop.create_future()
        async with asyncio.timeout(self._connect_timeout):
            transport, protocol = await loop.create_connection(
                lambda: WireProtocol(self._factory, self._on_lost), self.host, self.port
            )
        self._protocol = protocol
        heartbeat: asyncio.Task[None] | None = None
        try:
            await self._login()
            self._ever_logged_in = True
            if lost.done():
                raise AmiUnavailable(f"AMI {self.host}:{self.port}: closed right after Login")
            self._replay()
            self._ready.set()
            log.info("AMI %s:%s: logged in as %s", self.host, self.port, self._username)
            heartbeat = asyncio.create_task(self._heartbeat(transport), name="ami:heartbeat")
            await lost
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            transport.abort()  # connection_lost follows via call_soon
            if not lost.done():
                try:
                    async with asyncio.timeout(1.0):
                        await asyncio.shield(lost)
                except TimeoutError:
                    log.warning("AMI: transport did not report its closing")

    async def _login(self) -> None:
        login = make_action(
            {
                "Action": "Login",
                "Username": self._username,
                "Secret": self._secret,
                "Events": self._events,
            },
            False,
        )
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._exchange(login, False)
        except TimeoutError as exc:
            raise AmiTimeout(f"AMI {self.host}:{self.port}: no answer to Login") from exc
        except AmiActionLost as exc:
            raise AmiUnavailable(f"AMI {self.host}:{self.port}: closed during Login") from exc
        if not response.success:
            raise AmiAuthError(f"Login as {self._username!r} refused: {response.get('Message')}")

    def _replay(self) -> None:
        assert self._protocol is not None
        for pending in self._inflight.values():
            if pending.replay and not pending.action.future.done():
                pending.replay = False
                log.info("AMI: re-sending read-only %s", action_name(pending.action))
                self._protocol.send(pending.action, as_list=pending.action.as_list)

    async def _heartbeat(self, transport: asyncio.Transport) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            ping = make_action({"Action": "Ping"}, False)
            try:
                async with asyncio.timeout(self._timeout):
                    await self._exchange(ping, False)
            except TimeoutError:
                log.warning("AMI: no answer to Ping in %ss, dropping the connection", self._timeout)
                transport.abort()
                return
            except AmiActionLost:
                return


def _lost(act: Action) -> AmiActionLost:
    return AmiActionLost(action_name(act), str(act["ActionID"]), partial=bool(act.responses))

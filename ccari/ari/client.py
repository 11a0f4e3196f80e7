"""``AriClient``: ARI REST plus a supervised event websocket.

The websocket task connects to ``/ari/events?app=<app>&subscribeAll=true``, checks that
Asterisk delivers the app's events on it (a user event sent to the app must come back), runs
the ``on_connected`` callbacks (the reconcile hook: events that arrive meanwhile wait), then
parses every message once and hands it to the handlers registered for its type.  Events of
one channel (or bridge) are handled in order; other calls are not held up by a slow handler.

With ``rest_over_websocket`` (Asterisk 22) REST requests travel on that same socket once it
is live (no HTTP round trip, no Asterisk HTTP thread per request); before that, for binary
answers and for a request that must not queue behind the others (``direct``), they use
HTTP.  With ``filter_events`` Asterisk is asked (ARI eventFilter) to send only the event
types some handler is registered for.

Losing the socket (close, error, or no PONG within 1.5 heartbeats on a half-open TCP
connection) is logged and followed by a reconnect after an exponential, jittered delay.
Asterisk does not replay what happened meanwhile, hence ``on_connected`` on every connect.
``ApplicationReplaced`` (another websocket took the app) stops the client unless
``stop_on_replaced=False``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from ccari.ari.backoff import Backoff, ReconnectPolicy
from ccari.ari.dispatch import KeyedDispatcher
from ccari.ari.errors import (
    AriError,
    AriNotFound,
    AriRequestError,
    AriUnavailable,
    error_for_status,
)
from ccari.ari.events import ApplicationReplaced, Event, event_key, event_types, parse_event
from ccari.ari.rest import AriRest, Params, _seg
from ccari.ari.wsrest import WebsocketRequests
from ccari.tasks import ready_or_ended

log = logging.getLogger(__name__)
SLOW_RECONCILE_MS = 100.0

E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None] | None]
ConnectedCallback = Callable[[], Awaitable[None] | None]


class _Replaced(Exception):
    """Another websocket took the app: this client stops."""


class _ReplacedReconnect(Exception):
    """Another websocket took the app: this client reconnects to take it back."""


class AriClient(AriRest):
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        request_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        heartbeat: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        subscribe_all: bool = True,
        stop_on_replaced: bool = True,
        rest_over_websocket: bool = False,
        filter_events: bool = False,
    ) -> None:
        super().__init__(session, base_url, username, password, app, request_timeout=request_timeout)
        self._connect_timeout = connect_timeout
        # One attempt's handshake: a third of the whole wait, so that an attempt Asterisk
        # leaves unanswered is retried before start() gives up.
        self._attempt_timeout = connect_timeout / 3
        self._heartbeat = heartbeat
        self._backoff = Backoff(reconnect or ReconnectPolicy())
        self._subscribe_all = subscribe_all
        self._stop_on_replaced = stop_on_replaced
        self._handlers: dict[type, list[Handler[Event]]] = {}
        self._on_connected: list[ConnectedCallback] = []
        self._on_disconnected: list[ConnectedCallback] = []
        self._was_live = False  # the connection that just ended had been live
        self._dispatcher = KeyedDispatcher(f"ari:{app}")
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._ever_connected = False
        self._rest_over_ws = rest_over_websocket
        self._filter_events = filter_events
        self._ws_requests = WebsocketRequests()
        self.connect_attempts = 0
        self.last_error: BaseException | None = None

    # --- registration -----------------------------------------------------------------

    def on(self, event_type: type[E], handler: Handler[E]) -> None:
        """Call ``handler(event)`` for every event of ``event_type`` (or a subclass).

        ``client.on(Event, h)`` sees everything.  Handlers may be sync or async."""
        self._handlers.setdefault(event_type, []).append(handler)  # type: ignore[arg-type]

    def on_connected(self, callback: ConnectedCallback) -> None:
        """Call ``callback()`` after every (re)connect, before new events are dispatched."""
        self._on_connected.append(callback)

    def on_disconnected(self, callback: ConnectedCallback) -> None:
        """Call ``callback()`` each time a live connection is lost (before the reconnect)."""
        self._on_disconnected.append(callback)

    # --- lifecycle --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The websocket is up and the ``on_connected`` callbacks have run."""
        return self._ready.is_set()

    @property
    def stopped(self) -> bool:
        """The event task ended for good (closed, or the app was replaced)."""
        return self._stopped.is_set()

    async def wait_connected(self) -> None:
        """Wait for ``connected`` (bound it with ``asyncio.timeout``)."""
        await self._ready.wait()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def start(self, *, patient: bool = False) -> None:
        """Connect; return once connected and reconciled, or raise ``AriError`` after
        ``connect_timeout`` (or at once if Asterisk rejects the credentials).

        ``patient``: an Asterisk not reachable by then is waited for in the background (the
        client goes on retrying with its backoff; ``connected`` says when it is up);
        rejected credentials still raise."""
        if self._task is not None:
            raise RuntimeError("AriClient.start() called twice")
        self._task = asyncio.create_task(self._supervise(), name=f"ari:{self.app}:events")
        await ready_or_ended(self._ready, self._task, self._connect_timeout, f"ari:{self.app}:start")
        if self.connected:
            return
        failure, gave_up = self.last_error, self._task.done()
        if patient and not gave_up:
            log.warning("ARI events for %r: Asterisk not reachable yet (%r); retrying in the "
                        "background", self.app, failure)
            return
        await self.close()
        if gave_up and isinstance(failure, AriError):  # e.g. credentials rejected
            raise failure
        raise AriUnavailable(
            f"ARI events for {self.app!r}: not connected within {self._connect_timeout}s"
            f" (last error: {failure!r})"
        ) from failure

    async def close(self) -> None:
        """Stop the websocket task and every handler task; the session stays open."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._dispatcher.close()
        self._stopped.set()

    # --- the websocket ----------------------------------------------------------------

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                try:
                    await self._connection()
                    log.warning("ARI events for %r: websocket closed", self.app)
                except _Replaced:
                    return
                except (AriError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                    self.last_error = exc
                    if not self._ever_connected and _is_auth_error(exc):
                        log.error("ARI events for %r: credentials rejected: %s", self.app, exc)
                        return
                    log.warning("ARI events for %r: connection failed: %r", self.app, exc)
                except Exception as exc:  # a bug must not end event delivery silently
                    self.last_error = exc
                    log.exception("ARI events for %r: unexpected failure", self.app)
                if self._was_live:
                    self._was_live = False
                    await self._run_callbacks(self._on_disconnected, "on_disconnected")
                if loop.time() - started >= self._backoff.policy.stable_after:
                    self._backoff.reset()
                delay = self._backoff.next_delay()
                log.info("ARI events for %r: reconnecting in %.2fs", self.app, delay)
                await asyncio.sleep(delay)
        finally:
            self._ready.clear()
            self._stopped.set()

    async def _connection(self) -> None:
        self.connect_attempts += 1
        params = {"app": self.app, "subscribeAll": "true" if self._subscribe_all else "false"}
        try:
            async with asyncio.timeout(self._attempt_timeout):
                ws = await self._session.ws_connect(
                    self.root + "/events",
                    params=params,
                    headers=self._auth_headers,
                    heartbeat=self._heartbeat,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise error_for_status(exc.status, f"ARI events: {exc.message}") from exc
        try:
            self._ever_connected = True
            if self._subscribe_all:
                await self._drop_device_states()
            if self._filter_events:
                await self._set_filter()
            early = await self._confirm_delivery(ws)
            log.info("ARI events for %r: connected, reconciling", self.app)
            await self._run_connected_callbacks()
            self._ready.set()
            if self._rest_over_ws:
                self._ws_requests.ws = ws
            log.info("ARI events for %r: live", self.app)
            for text in early:
                self._handle_or_stop(text)
            while (message := await _next_text(ws)) is not None:
                self._handle_or_stop(message)
        except _ReplacedReconnect:
            return
        finally:
            self._was_live = self._ready.is_set()
            self._ready.clear()
            self._ws_requests.detach()
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    async def _drop_device_states(self) -> None:
        """Leave the device-state subscription that ``subscribeAll`` gives the app.

        ccari has no use for device states, and Asterisk 22.10 can deadlock on them: the
        teardown of a closed websocket waits for the device-state deliveries to drain while
        holding the lock each delivery needs (Asterisk issue 2170); from then on no
        websocket for the app is ever answered again.  Without the subscription the
        teardown has nothing to wait for."""
        try:
            await super()._send("DELETE", f"/applications/{_seg(self.app)}/subscription",
                                params={"eventSource": "deviceState:"}, direct=True)
        except AriRequestError as exc:  # already gone, or an Asterisk without it
            log.debug("ARI events for %r: device states not left: %s", self.app, exc)

    async def _confirm_delivery(self, ws: aiohttp.ClientWebSocketResponse) -> list[str]:
        """Send the app a user event and wait for it on this websocket; return what arrived
        before it (dispatched once the ``on_connected`` callbacks have run).

        Asterisk can answer the upgrade and still lose the app: when the app's previous
        websocket is being torn down while this one registers, the old teardown deactivates
        the app and the new registration gives up quietly, leaving a socket that carries no
        event and no answer.  Such a connection is abandoned for a new attempt."""
        probe = f"ccari-live-{secrets.token_hex(6)}"
        try:
            await super()._send("POST", f"/events/user/{probe}", params={"application": self.app},
                                direct=True)
        except AriNotFound as exc:
            raise AriUnavailable(f"ARI events for {self.app!r}: Asterisk accepted the websocket "
                                 "but holds no such app") from exc
        early: list[str] = []
        try:
            async with asyncio.timeout(self._attempt_timeout):
                while (text := await _next_text(ws)) is not None:
                    if _is_probe(text, probe):
                        return early
                    early.append(text)
        except TimeoutError:
            pass
        raise AriUnavailable(f"ARI events for {self.app!r}: the websocket delivered nothing to "
                             f"the app within {self._attempt_timeout:.1f}s")

    def _handle_or_stop(self, text: str) -> None:
        if self._handle_text(text):  # ApplicationReplaced
            raise _Replaced if self._stop_on_replaced else _ReplacedReconnect

    async def _set_filter(self) -> None:
        handled = set(self._handlers)
        if Event in handled:
            return  # someone wants everything
        allowed = sorted({name for name, cls in event_types().items()
                          if any(issubclass(cls, h) for h in handled)}
                         | {"ApplicationReplaced", "RESTResponse", "ChannelUserevent"})
        try:
            await self.set_event_filter(allowed)
        except AriError as exc:  # an Asterisk without eventFilter: everything comes
            log.warning("ARI events for %r: event filter not set: %s", self.app, exc)

    # --- REST over the websocket ------------------------------------------------------

    async def _send(self, method: str, path: str, *, params: Params | None = None,
                    json_body: Any = None, request_timeout: float | None = None,
                    direct: bool = False) -> bytes:
        ws = self._ws_requests.ws
        if ws is None or direct:
            return await super()._send(method, path, params=params, json_body=json_body,
                                       request_timeout=request_timeout, direct=direct)
        return await self._ws_requests.send(
            ws, method, path, params=params, json_body=json_body,
            answer_within=self._timeout if request_timeout is None else request_timeout)

    async def _run_connected_callbacks(self) -> None:
        await self._run_callbacks(self._on_connected, "on_connected")

    async def _run_callbacks(self, callbacks: list[ConnectedCallback], kind: str) -> None:
        """One after the other (events wait meanwhile); a slow one is named in the log."""
        loop = asyncio.get_running_loop()
        for callback in list(callbacks):
            started = loop.time()
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("ARI %s callback %r failed", kind, callback)
            took_ms = (loop.time() - started) * 1000
            log.log(logging.INFO if took_ms >= SLOW_RECONCILE_MS else logging.DEBUG,
                    "ARI %s %s took %.0f ms", kind,
                    getattr(callback, "__qualname__", repr(callback)), took_ms)

    def _handle_text(self, text: str) -> bool:
        """Parse and dispatch one message; True when it says the app was replaced."""
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("ARI events: dropped a message that is not JSON: %.200s", text)
            return False
        if isinstance(data, dict) and data.get("type") == "RESTResponse":
            self._ws_requests.answer(data)
            return False
        event = parse_event(data)
        self._dispatch(event)
        if not isinstance(event, ApplicationReplaced):
            return False
        log.error(
            "ARI app %r was taken over by another websocket (ApplicationReplaced): %s",
            self.app,
            "this client stops" if self._stop_on_replaced else "reconnecting to take it back",
        )
        return True

    def _dispatch(self, event: Event) -> None:
        handlers = [h for cls in type(event).__mro__ for h in self._handlers.get(cls, ())]
        if not handlers:
            log.debug("ARI %s ignored (no handler)", event.name)
            return
        self._dispatcher.submit_handlers(event_key(event), handlers, event, event.name)

    async def join(self) -> None:
        """Wait until every dispatched event has been handled (tests, graceful stop)."""
        await self._dispatcher.join()


def _is_auth_error(exc: BaseException) -> bool:
    return isinstance(exc, AriRequestError) and exc.status_code in (401, 403)


async def _next_text(ws: aiohttp.ClientWebSocketResponse) -> str | None:
    """The next text message; ``None`` once the socket is closed."""
    while True:
        msg = await ws.receive()
        if msg.type is aiohttp.WSMsgType.TEXT:
            return str(msg.data)
        if msg.type is aiohttp.WSMsgType.ERROR:
            raise AriUnavailable(f"ARI events: websocket error {ws.exception()!r}")
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.CLOSED):
            return None


def _is_probe(text: str, name: str) -> bool:
    """Whether the message is the user event named ``name`` (cheap test before parsing)."""
    if name not in text:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "ChannelUserevent" \
        and data.get("eventname") == name

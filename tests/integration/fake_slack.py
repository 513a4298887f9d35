"""A local Slack for tests: the webhook endpoint, `/api/chat.postMessage`, `/api/chat.update`.

It runs aiohttp on 127.0.0.1:0 in its own thread and event loop, so sync tests (the CLI calls
`anyio.run` itself) and async tests use it alike, and a hanging request never blocks the test's
loop. It records every request (raw body included, to search it for data that must not be
there) and can answer 429 with Retry-After, 5xx, a Slack error code, or hang, until switched back.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from aiohttp import web

CHANNEL_ID = "C0ALERTS"
WEBHOOK_PATH = "/services/T000/B000/SECRETPART"


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    status: int
    raw: bytes
    headers: dict[str, str]

    @property
    def body(self) -> dict[str, Any]:
        parsed = json.loads(self.raw or b"{}")
        assert isinstance(parsed, dict)
        return parsed

    @property
    def header_text(self) -> str:
        """The message's header block text (what kind of notification it was)."""
        for block in self.body.get("blocks", []):
            if block.get("type") == "header":
                return str(block["text"]["text"])
        return ""


@dataclass
class Failure:
    status: int
    #: How many requests fail this way; None: until `succeed()`.
    times: int | None = None
    retry_after: int | None = None
    error: str | None = None
    hang: bool = False


@dataclass
class FakeSlack:
    received: list[Received] = field(default_factory=list)
    #: ts -> the payload now shown for that message (chat.update replaces it).
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = 0
    _failure: Failure | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _loop: asyncio.AbstractEventLoop | None = None
    _release: asyncio.Event | None = None
    _counter: int = 0

    # --- control ------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base + WEBHOOK_PATH

    @property
    def api_url(self) -> str:
        return self.base + "/api/"

    def fail(self, status: int, **kwargs: Any) -> None:
        with self._cond:
            self._failure = Failure(status, **kwargs)

    def hang(self) -> None:
        self.fail(0, hang=True)

    def succeed(self) -> None:
        """Back to normal; hanging requests are let go (they then fail with a 503)."""
        with self._cond:
            self._failure = None
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def delivered(self) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.status == 200]

    def wait_for(self, predicate: Callable[[FakeSlack], bool], timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError(f"fake Slack: condition not met in {timeout}s")

    async def async_wait_for(
        self, predicate: Callable[[FakeSlack], bool], seconds: float = 5.0
    ) -> None:
        """`wait_for` in a worker thread: the test's event loop keeps running meanwhile."""
        await anyio.to_thread.run_sync(self.wait_for, predicate, seconds)

    # --- server -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = dict(request.headers)
        with self._cond:
            failure = self._failure
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failure = None
        if failure is not None and failure.hang:
            assert self._release is not None
            self._record(request.path, 0, raw, headers)
            await self._release.wait()
            return web.Response(status=503, text="released")
        if failure is not None:
            self._record(request.path, failure.status, raw, headers)
            extra = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            if request.path.startswith("/api/") and failure.status < 500:
                # The Web API answers errors as JSON: {"ok": false, "error": "<code>"}.
                error = failure.error or "ratelimited"
                return web.json_response(
                    {"ok": False, "error": error}, status=failure.status, headers=extra
                )
            return web.Response(
                status=failure.status, text=failure.error or "upstream error", headers=extra
            )
        return self._succeed(request.path, raw, headers)

    def _succeed(self, path: str, raw: bytes, headers: dict[str, str]) -> web.Response:
        if path == WEBHOOK_PATH:
            self._record(path, 200, raw, headers)
            return web.Response(text="ok")
        body = json.loads(raw or b"{}")
        if path == "/api/chat.postMessage":
            self._counter += 1
            ts = f"1700000000.{self._counter:06d}"
            self.messages[ts] = body
            self._record(path, 200, raw, headers)
            return web.json_response({"ok": True, "channel": CHANNEL_ID, "ts": ts})
        if path == "/api/chat.update":
            ts = body.get("ts")
            if ts not in self.messages or body.get("channel") != CHANNEL_ID:
                self._record(path, 400, raw, headers)
                return web.json_response({"ok": False, "error": "message_not_found"})
            self.messages[ts] = body
            self._record(path, 200, raw, headers)
            return web.json_response({"ok": True, "channel": CHANNEL_ID, "ts": ts})
        self._record(path, 404, raw, headers)
        return web.Response(status=404, text="no_service")

    def _record(self, path: str, status: int, raw: bytes, headers: dict[str, str]) -> None:
        with self._cond:
            self.received.append(Received(path, status, raw, headers))
            self._cond.notify_all()


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        fake._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/{tail:.*}", fake._handle)
        runner = web.AppRunner(app, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        fake.port = runner.addresses[0][1]
        runner_box.append(runner)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner_box[0].cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="fake-slack", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise TimeoutError("fake Slack did not start")
    fake._loop = loop
    try:
        yield fake
    finally:
        fake.succeed()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

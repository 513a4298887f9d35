"""The daemon's HTTP listener (`[telemetry] listen`): /, /runbook, /metrics, /healthz, /readyz, /status.

- `/`: the status page for people (HTML, no script; see `monitor.telemetry.statuspage`).
- `/runbook`: the runbook of the running version, rendered from docs/runbook.md.
- `/metrics`: Prometheus text of every instrument (OTel names, dots as underscores).
- `/healthz`: liveness. 200 while the loop answers and the scheduler ticks, never depending on
  the stores (a database outage must not make Kubernetes restart every replica).
- `/readyz`: 200 once the config is loaded and the scheduler started, leader or standby; 503
  before that and while shutting down.
- `/status`: JSON for people and scripts (see `Probe.status`).

No access log: a scrape every few seconds is noise, and requests carry nothing worth keeping.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from monitor.errors import ConfigError
from monitor.telemetry.runbook import RunbookMissing, runbook_page

#: The status page changes with every run: never served from a cache.
_NO_STORE = {"Cache-Control": "no-store"}


class Probe(Protocol):
    def health(self) -> tuple[bool, str]: ...

    def ready(self) -> tuple[bool, str]: ...

    def status(self) -> dict[str, Any]: ...

    def status_page(self) -> str: ...


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _verdict(result: tuple[bool, str]) -> web.Response:
    ok, reason = result
    return web.json_response({"ok": ok, "reason": reason}, status=200 if ok else 503)


def build_app(metrics_text: Callable[[], bytes], probe: Probe) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=metrics_text(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return _verdict(probe.health())

    async def readyz(_: web.Request) -> web.Response:
        return _verdict(probe.ready())

    async def status(_: web.Request) -> web.Response:
        return web.json_response(probe.status(), dumps=lambda d: json.dumps(d, default=str))

    async def status_page(_: web.Request) -> web.Response:
        return web.Response(text=probe.status_page(), content_type="text/html", headers=_NO_STORE)

    async def runbook(_: web.Request) -> web.Response:
        try:
            return web.Response(text=runbook_page(), content_type="text/html")
        except RunbookMissing as exc:
            return web.Response(status=404, text=f"{exc}; see docs/runbook.md of this version")

    app = web.Application()
    app.router.add_get("/", status_page)
    app.router.add_get("/runbook", runbook)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status)
    return app


@asynccontextmanager
async def serve(
    listen: str, metrics_text: Callable[[], bytes], probe: Probe
) -> AsyncIterator[tuple[str, int]]:
    """Listen on `listen` ("host:port"; port 0 picks one) and yield the bound address."""
    host, port = parse_listen(listen)
    runner = web.AppRunner(build_app(metrics_text, probe), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError("telemetry.listen", f"cannot listen on {listen}: {reason}") from None
        bound = runner.addresses[0]
        yield str(bound[0]), int(bound[1])
    finally:
        with anyio.move_on_after(5, shield=True):
            await runner.cleanup()

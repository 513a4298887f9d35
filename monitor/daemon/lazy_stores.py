"""The daemon's stores: opened by the first run that needs them, then kept for the process."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import anyio

from monitor.config import Settings
from monitor.runtime import StoreContext, open_context

#: The daemon's logger (its JSON lines name it), whichever of its modules logs.
log = logging.getLogger("monitor.daemon")


class LazyStores:
    """The check context, opened on first use and kept; a failed open is retried next time."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stack = AsyncExitStack()
        self._context: StoreContext | None = None
        self._lock = anyio.Lock()

    async def get(self) -> StoreContext:
        if self._context is None:
            async with self._lock:
                if self._context is None:
                    context = await self._stack.enter_async_context(open_context(self._settings))
                    for warning in context.warnings:
                        log.warning("stores.warning", extra={"warning": warning})
                    log.info("stores.opened")
                    self._context = context
        return self._context

    async def aclose(self) -> None:
        with anyio.move_on_after(5, shield=True) as scope:
            await self._stack.aclose()
        if scope.cancelled_caught:
            log.warning("stores.close_timed_out")

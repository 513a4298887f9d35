"""The export's commands run on uvloop's event loop (a dependency), where asyncpg's COPY client
costs half the CPU."""

from __future__ import annotations

import asyncio

import anyio

from monitor.verify.export_command import EVENT_LOOP


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_export_runs_on_uvloop() -> None:
    assert anyio.run(_loop_module, backend_options=EVENT_LOOP).startswith("uvloop")

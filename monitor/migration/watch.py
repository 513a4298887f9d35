"""The daemon's view of the migration phase: read `phase_history` every `PHASE_REFRESH` seconds.

The status page and /status show the phase beside the checks, so on-call sees whether reads or
writes already depend on DynamoDB. Reading is harmless on every replica (leader or standby). A
failed read keeps the phase last known on the board with the reason, logged once per outage.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import anyio

from monitor.core.phases import Phase
from monitor.errors import MonitorError, describe_error
from monitor.migration.phase import DEFAULT_PHASE, latest_change
from monitor.runtime import StoreContext
from monitor.telemetry.status import StatusBoard
from monitor.telemetry.statuspage import PhaseView

log = logging.getLogger(__name__)

#: Seconds between two reads of the phase (the page reloads every 30 s).
PHASE_REFRESH = 30.0


async def read_phase(context: StoreContext, now: datetime) -> PhaseView:
    change = await latest_change(context.sql.pool, context.settings.postgres.state_schema)
    if change is None:
        return PhaseView(now, DEFAULT_PHASE)
    return PhaseView(
        now,
        Phase(change.to_phase),
        since=change.at,
        by=change.by,
        rollback=bool(change.evidence.get("rollback")),
    )


async def watch_phase(
    get_context: Callable[[], Awaitable[StoreContext]],
    board: StatusBoard,
    *,
    interval: float = PHASE_REFRESH,
) -> None:
    """Forever: refresh the board's phase; never raises for a store fault."""
    failing = False
    while True:
        now = datetime.now(UTC)
        try:
            view = await read_phase(await get_context(), now)
        except MonitorError as exc:
            reason = describe_error(exc)
            if not failing:
                log.warning("phase.unavailable", extra={"error": reason})
            failing = True
            board.record_phase(PhaseView(now, unavailable=reason))
        else:
            if failing:
                log.info("phase.available", extra={"phase": str(view.phase)})
            failing = False
            board.record_phase(view)
        await anyio.sleep(interval)

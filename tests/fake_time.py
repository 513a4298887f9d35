"""An asyncio event loop whose clock jumps ahead whenever every task waits (kopf's looptime).

`anyio.sleep(60)`, a `fail_after(5)` or a scheduler's interval then take no real time, and
the order of events stays exactly as it would be on a real clock. Only for tests without real
I/O: a reply from a server takes real time, which this clock would skip over.
"""

from __future__ import annotations

from typing import Any

import looptime


def fake_time_backend() -> tuple[str, dict[str, Any]]:
    """An `anyio_backend` value: asyncio on a fast-forwarding loop starting at time 0."""
    return "asyncio", {"loop_factory": lambda: looptime.new_event_loop(start=0)}

"""When partition discovery, running beside a check, may send its next Scan page.

Discovery takes at most `share` of what the check itself spends in the same run: of its read
units, and of its wall time (a Scan page can cost a server far more time than its read units
say: DynamoDB Local serves one in about the time of a dozen Queries of the same units). The
first page of a run is always allowed, so every run makes progress, however short; after it a
page is sent only while both shares allow it and the check is not expected to finish before
the page would (the check never waits for discovery).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: How long to wait before asking again when only the read-unit share holds a page back (the
#: check's units grow as its slices finish, which no clock predicts).
RECHECK_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class PaceState:
    """What discovery has spent so far in one run, beside one check."""

    share: float
    #: Clock reading when the check started.
    started: float
    pages: int = 0
    #: Seconds discovery's pages were in flight, and read units they cost.
    busy: float = 0.0
    units: float = 0.0
    #: How long the last page took (the estimate of the next one's).
    last_page: float = 0.0

    def record(self, seconds: float, units: float) -> PaceState:
        """This state after one more page of `seconds` and `units`."""
        return replace(
            self,
            pages=self.pages + 1,
            busy=self.busy + max(0.0, seconds),
            units=self.units + max(0.0, units),
            last_page=max(0.0, seconds),
        )

    def wait_before_next(self, now: float, check_units: float, check_done: float) -> float | None:
        """Seconds to wait before the next page may be sent: 0 now, None not in this run.

        `check_units`: read units the check itself has spent so far; `check_done`: the share
        of its work already done (0 to 1), from which its end is estimated.
        """
        if self.pages == 0:
            return 0.0
        elapsed = max(0.0, now - self.started)
        if check_done >= 1.0:
            return None
        if check_done > 0.0:
            remaining = elapsed * (1.0 - check_done) / check_done
            if remaining < self.last_page:
                return None  # the check would wait for this page
        # The time share counts the next page too, so discovery never overshoots it.
        time_ready = self.started + (self.busy + self.last_page) / self.share
        if time_ready > now:
            return time_ready - now
        if self.units > self.share * check_units:
            return RECHECK_SECONDS
        return 0.0

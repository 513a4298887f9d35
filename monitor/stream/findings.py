"""Stream findings: each reported once per record and kind (across restarts), as one JSON log
event `stream.finding`, a detection-latency sample, and an entry of /status `stream`."""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.model import Finding, KeyValue
from monitor.report import finding_json, iso
from monitor.stores.stream_state import StreamState, key_json
from monitor.stream.metrics import StreamMetrics
from monitor.stream.report import StreamTally

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamFinding:
    finding: Finding
    changed_at: datetime
    found_at: datetime
    #: "dynamodb" (a stream record of the table) or "postgres" (a SQL change).
    source: str


def stream_finding_json(found: StreamFinding, key_column: str) -> dict[str, Any]:
    return {
        **finding_json(found.finding, key_column),
        "changed_at": iso(found.changed_at),
        "found_at": iso(found.found_at),
        "source": found.source,
    }


class FindingReporter:
    def __init__(
        self,
        state: StreamState,
        metrics: StreamMetrics | None,
        key_column: str,
        keep: int,
        tally: StreamTally | None = None,
    ) -> None:
        self._tally = tally
        self._state = state
        self._metrics = metrics
        self._key_column = key_column
        self.recent: deque[StreamFinding] = deque(maxlen=keep)
        self.by_kind: Counter[str] = Counter()

    async def report(self, found: Sequence[StreamFinding], clean: Sequence[KeyValue]) -> int:
        """Report the findings not reported before; forget the records verified clean.
        Returns how many were new."""
        await self._state.forget_findings(clean)
        rows = [(f.finding.key, str(f.finding.kind), f.changed_at, f.found_at) for f in found]
        first = await self._state.first_reports(rows)
        new = 0
        for item in found:
            if (key_json(item.finding.key), str(item.finding.kind)) not in first:
                continue
            first.discard((key_json(item.finding.key), str(item.finding.kind)))
            new += 1
            self.recent.appendleft(item)
            self.by_kind[str(item.finding.kind)] += 1
            if self._tally is not None:
                self._tally.findings.append(item.finding)
            if self._metrics is not None:
                self._metrics.record_latency((item.found_at - item.changed_at).total_seconds())
            log.warning("stream.finding", extra=stream_finding_json(item, self._key_column))
        return new

    def status_json(self) -> dict[str, Any]:
        return {
            "findings_by_kind": dict(self.by_kind),
            "last_findings": [stream_finding_json(f, self._key_column) for f in self.recent],
        }

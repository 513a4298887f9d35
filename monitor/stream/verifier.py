"""Judging changed DynamoDB items once they are older than `grace`: their SQL rows read in one
`= ANY` per batch, the item image from the stream (no read on the table)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import anyio

from monitor.config import Settings, field_specs
from monitor.core.mapping import TableMapping
from monitor.model import Finding, FindingKind, KeyValue
from monitor.stores.postgres import PostgresStore
from monitor.stream.buffer import ChangeBuffer
from monitor.stream.changes import Change
from monitor.stream.findings import FindingReporter, StreamFinding
from monitor.stream.judge import judge_item
from monitor.stream.metrics import StreamMetrics
from monitor.stream.report import StreamTally


async def rows_by_key(
    sql: PostgresStore, keys: Sequence[KeyValue], columns: Sequence[str]
) -> dict[str, Mapping[str, Any]]:
    """The rows of these keys (of either type), by `str(key)`."""
    by_type: defaultdict[type, list[KeyValue]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        by_type[type(key)].append(key)
    found: dict[str, Mapping[str, Any]] = {}
    for group in by_type.values():
        for row in await sql.rows_with_columns(group, columns) or ():
            found[str(row[sql.mapping.key_column])] = row
    return found


def compared_columns(settings: Settings, mapping: TableMapping) -> tuple[str, ...]:
    specs = field_specs(settings.mapping.fields, "mapping.fields")
    return tuple(dict.fromkeys((*mapping.row_columns, *(s.column for s in specs))))


class DynamoChangeVerifier:
    def __init__(
        self,
        settings: Settings,
        sql: PostgresStore,
        buffer: ChangeBuffer,
        reporter: FindingReporter,
        metrics: StreamMetrics | None,
        tally: StreamTally | None = None,
    ) -> None:
        self.tally = tally
        self.settings = settings
        self.sql = sql
        self.mapping = sql.mapping
        self.specs = field_specs(settings.mapping.fields, "mapping.fields")
        self.columns = compared_columns(settings, sql.mapping)
        self.buffer = buffer
        self.reporter = reporter
        self.metrics = metrics
        self.verified = 0
        self.findings = 0

    async def verify_due(self, horizon: datetime, now: datetime) -> int:
        """Judge up to one batch of changes made at or before `horizon`; how many were judged."""
        due = self.buffer.take_due(horizon, self.settings.stream.batch_size)
        if not due:
            return 0
        try:
            found, clean = await self._judge(due, now)
            # Once reported, the batch must count as judged: a cancellation (leadership lost)
            # between the two would have the next leader verify it again.
            with anyio.CancelScope(shield=True):
                await self.reporter.report(found, clean)
        except BaseException:
            self.buffer.put_back(due)
            raise
        self.buffer.judged(due)
        bad = len({f.finding.key for f in found})
        self.verified += len(due)
        self.findings += bad
        if self.metrics is not None:
            self.metrics.record_verified("dynamodb", len(due) - bad, bad)
        if self.tally is not None:
            self.tally.add("dynamodb", len(due), bad)
        return len(due)

    async def _judge(
        self, due: Sequence[Change], now: datetime
    ) -> tuple[list[StreamFinding], list[KeyValue]]:
        keyed = [(change, change.key(self.mapping)) for change in due]
        rows = await rows_by_key(self.sql, [k for _, k in keyed if k is not None], self.columns)
        found: list[StreamFinding] = []
        clean: list[KeyValue] = []
        for change, key in keyed:
            if key is None:
                finding = Finding(
                    FindingKind.INVALID_DATA,
                    change.sk,
                    pk=change.pk,
                    sk=change.sk,
                    field=self.mapping.key_attribute,
                    detail="the changed item names no readable record key",
                )
                found.append(StreamFinding(finding, change.changed_at, now, "dynamodb"))
                continue
            findings = judge_item(
                self.mapping,
                self.specs,
                key,
                change.pk,
                change.sk,
                change.image,
                rows.get(str(key)),
            )
            if not findings:
                clean.append(key)
            found += [StreamFinding(f, change.changed_at, now, "dynamodb") for f in findings]
        return found, clean

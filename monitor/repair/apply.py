"""Applying one planned action: conditional, idempotent, resumable (CONTRACT §8).

An action is a few steps, each on one store. Before anything is written every step is judged
against the record as it is now: `done` (already in the target state: a run that died half way
did it), `todo` (still exactly as the plan saw it) or `changed` (someone else touched it). One
`changed` step skips the whole action (`skipped_changed`, nothing written); otherwise the `todo`
steps run in order, each a conditional write (a DynamoDB ConditionExpression, a SQL `WHERE` on
status and `updated_at`) that also refuses if the record changes between the read and the write.
A second run therefore finishes what a first one left and never applies a step twice.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from monitor.core.item import Item
from monitor.core.mapping import TableMapping
from monitor.core.plan import Action, PlannedAction
from monitor.repair.records import RecordReader, Seen
from monitor.stores.digests import item_digest
from monitor.stores.ports import SourceRepairs, TargetRepairs


class Judgement(enum.StrEnum):
    DONE = "done"
    TODO = "todo"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class Step:
    store: Literal["sql", "dynamodb"]
    #: sql_status, put_new, put_over, status, delete
    kind: str
    judgement: Judgement
    target_status: str | None = None
    item: Item | None = None
    #: The item as read just before writing (put_over conditions on it).
    current: Item | None = None
    #: The SQL row an `insert` writes (copy_to_sql).
    row: Mapping[str, Any] | None = None
    why: str = ""


@dataclass(slots=True)
class Current:
    """The record as it is now in both stores (whole row and item; None: absent)."""

    row: Mapping[str, Any] | None
    item: Item | None
    pk: str | None
    sk: str | None


@dataclass(slots=True)
class Outcome:
    result: str
    note: str = ""
    after: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)


ItemBuilder = Callable[[Mapping[str, Any], str], Item]
#: The SQL row for an item (copy_to_sql); None where the mapping cannot rebuild one.
RowBuilder = Callable[[Item], dict[str, Any]]
#: The column that ties a row to its dual-write transaction (CONTRACT §7).
TRANSACTION_COLUMN = "transaction_id"


class Applier:
    def __init__(
        self,
        sql: SourceRepairs,
        dynamo: TargetRepairs,
        reader: RecordReader,
        build_item: ItemBuilder,
        *,
        build_row: RowBuilder | None = None,
        before_write: Callable[[], Any] | None = None,
    ) -> None:
        self.sql = sql
        self.dynamo = dynamo
        self.reader = reader
        self.mapping: TableMapping = reader.mapping
        self.build_item = build_item
        self.build_row = build_row
        #: Awaited before every write (the write budget; tests use it to "crash" mid-action).
        self.before_write = before_write

    # --- judging ---------------------------------------------------------------------------

    def steps(self, action: PlannedAction, seen: Seen, now: Current) -> list[Step]:
        s = self.mapping.status_values
        row, item = now.row, now.item
        if action.action is Action.PUT_FROM_SQL:
            if row is None or seen.sql is None or self._content_changed(seen, row):
                return [_changed("sql", "the SQL row changed or is gone")]
            target = self.build_item(row, s.committed)
            return [
                self._put_new(item, target),
                self._sql_status(seen, row, s.committed),
            ]
        if action.action is Action.COMPLETE_COMMIT:
            return [
                self._sql_status(seen, row, s.committed),
                self._item_status(seen, item, s.committed),
            ]
        if action.action is Action.ALIGN_STATUS:
            assert action.target_status is not None
            if action.side == "sql":
                return [self._sql_status(seen, row, action.target_status)]
            return [self._item_status(seen, item, action.target_status)]
        if action.action is Action.REWRITE_FROM_SQL:
            if row is None or seen.sql is None or self._row_changed(seen, row):
                return [_changed("sql", "the SQL row changed or is gone")]
            status = self.reader.row_status(row) or s.committed
            return [self._put_over(seen, item, self.build_item(row, status))]
        if action.action is Action.COPY_TO_SQL:
            return [self._insert(seen, row, item)]
        if action.action in (Action.COMPENSATE_ITEM, Action.DELETE_ITEM):
            if row is not None:
                return [_changed("sql", "a SQL row appeared")]
            if action.action is Action.DELETE_ITEM:
                return [self._delete(seen, item)]
            return [self._item_status(seen, item, s.compensated)]
        raise ValueError(f"{action.action} is not applied")

    def _content_changed(self, seen: Seen, row: Mapping[str, Any]) -> bool:
        now = self.reader.row_seen(row)
        return seen.sql is None or now is None or now.content != seen.sql.content

    def _row_changed(self, seen: Seen, row: Mapping[str, Any]) -> bool:
        return self.reader.row_seen(row) != seen.sql

    def _sql_status(self, seen: Seen, row: Mapping[str, Any] | None, target: str) -> Step:
        if row is None or seen.sql is None:
            return _changed("sql", "the SQL row is gone")
        if self.reader.row_status(row) == target:
            return Step("sql", "sql_status", Judgement.DONE, target)
        now = self.reader.row_seen(row)
        assert now is not None
        if (now.status, now.updated_at, now.content) == (
            seen.sql.status,
            seen.sql.updated_at,
            seen.sql.content,
        ):
            return Step("sql", "sql_status", Judgement.TODO, target)
        return _changed("sql", "the SQL row changed")

    def _item_status(self, seen: Seen, item: Item | None, target: str) -> Step:
        if item is None or seen.dynamodb is None:
            return _changed("dynamodb", "the item is gone")
        status = self.reader.item_status(item)
        if status == target:
            return Step("dynamodb", "status", Judgement.DONE, target)
        if status == seen.dynamodb.status:
            return Step("dynamodb", "status", Judgement.TODO, target, current=item)
        return _changed("dynamodb", "the item's status changed")

    def _put_new(self, item: Item | None, target: Item) -> Step:
        if item is None:
            return Step("dynamodb", "put_new", Judgement.TODO, item=target)
        if item_digest(item) == item_digest(target):
            return Step("dynamodb", "put_new", Judgement.DONE, item=target)
        return _changed("dynamodb", "an item appeared")

    def _put_over(self, seen: Seen, item: Item | None, target: Item) -> Step:
        if item is None or seen.dynamodb is None:
            return _changed("dynamodb", "the item is gone")
        digest = item_digest(item)
        if digest == item_digest(target):
            return Step("dynamodb", "put_over", Judgement.DONE, item=target)
        if digest == seen.dynamodb.digest:
            return Step("dynamodb", "put_over", Judgement.TODO, item=target, current=item)
        return _changed("dynamodb", "the item changed")

    def _insert(self, seen: Seen, row: Mapping[str, Any] | None, item: Item | None) -> Step:
        """The SQL row rebuilt from the item, inserted only where no row exists."""
        if self.build_row is None:
            raise ValueError("copy_to_sql needs a row builder")
        if item is None or seen.dynamodb is None or item_digest(item) != seen.dynamodb.digest:
            return _changed("dynamodb", "the item changed or is gone")
        target = self.build_row(item)
        status = self.reader.row_status(target)
        if row is None:
            return Step("sql", "insert", Judgement.TODO, status, row=target)
        same = row.get(TRANSACTION_COLUMN) == target.get(TRANSACTION_COLUMN)
        if same and self.reader.row_status(row) == status:
            return Step("sql", "insert", Judgement.DONE, status, row=target)
        return _changed("sql", "a SQL row appeared")

    def _delete(self, seen: Seen, item: Item | None) -> Step:
        if item is None:
            return Step("dynamodb", "delete", Judgement.DONE)
        if seen.dynamodb is not None and self.reader.item_status(item) == seen.dynamodb.status:
            return Step("dynamodb", "delete", Judgement.TODO, current=item)
        return _changed("dynamodb", "the item's status changed")

    # --- writing ---------------------------------------------------------------------------

    async def apply(self, action: PlannedAction, seen: Seen, now: Current) -> Outcome:
        steps = self.steps(action, seen, now)
        changed = [s for s in steps if s.judgement is Judgement.CHANGED]
        if changed:
            return Outcome("skipped_changed", changed[0].why)
        done: list[str] = []
        for step in steps:
            if step.judgement is Judgement.DONE:
                done.append(f"{step.store} {step.kind}: already done")
                continue
            if self.before_write is not None:
                await self.before_write()
            if not await self._write(action, seen, now, step):
                return Outcome(
                    "skipped_changed", f"{step.store} changed before the write", steps=done
                )
            done.append(f"{step.store} {step.kind}: written")
        return Outcome("applied", after=self._after(steps), steps=done)

    def _after(self, steps: list[Step]) -> dict[str, Any]:
        after: dict[str, Any] = {}
        for step in steps:
            if step.kind == "delete":
                after["dynamodb"] = None
            elif step.item is not None:
                after["dynamodb"] = self.reader.item_seen(step.item).as_json()  # type: ignore[union-attr]
            elif step.store == "sql":
                after["sql_status"] = step.target_status
            else:
                after["dynamodb_status"] = step.target_status
        return after

    async def _write(self, action: PlannedAction, seen: Seen, now: Current, step: Step) -> bool:
        if step.kind == "insert":
            assert step.row is not None
            holder = await self.sql.insert_pending(step.row, TRANSACTION_COLUMN)
            # None: inserted; its own transaction id: a retry of an insert that did commit.
            return holder is None or holder == step.row.get(TRANSACTION_COLUMN)
        if step.store == "sql":
            assert seen.sql is not None and step.target_status is not None
            return await self.sql.conditional_status(
                action.key,
                step.target_status,
                seen_status=seen.sql.status,
                seen_updated_at=(
                    None
                    if seen.sql.updated_at is None
                    else datetime.fromisoformat(seen.sql.updated_at)
                ),
                updated_at_column=self.reader.updated_at_column,
            )
        if step.kind == "put_new":
            assert step.item is not None
            return await self.dynamo.put_if_absent(step.item)
        if step.kind == "put_over":
            assert step.item is not None and step.current is not None
            return await self.dynamo.put_if_unchanged(step.item, step.current)
        assert now.pk is not None and now.sk is not None
        seen_status = None if seen.dynamodb is None else seen.dynamodb.status
        if step.kind == "delete":
            return await self.dynamo.delete_if_status(now.pk, now.sk, seen_status)
        assert step.target_status is not None
        return await self.dynamo.set_status_if(now.pk, now.sk, step.target_status, seen_status)


def _changed(store: Literal["sql", "dynamodb"], why: str) -> Step:
    return Step(store, "check", Judgement.CHANGED, why=why)

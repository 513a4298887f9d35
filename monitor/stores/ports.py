"""The two stores as the checks, the writer and repair see them: Protocols, no driver.

`SourceStore` is the system of record (PostgreSQL, `postgres.py`); `TargetStore` is the table
being migrated to (DynamoDB, `dynamodb.py`); `DiscoveryState` is the partition-discovery cache in
the monitor's own schema (`state.py`). `memory.py` implements both in memory, for fast
tests of the checks. Values cross these ports already decoded: a SQL row is a mapping of column
-> Python value, a DynamoDB item a mapping of attribute -> `Attribute` (`monitor.core.item`);
nothing above `monitor.stores` sees SQL text, a pool or DynamoDB's wire format.

Reads are narrow (only the columns and attributes asked for) and every DynamoDB read passes
through the store's `ReadBudget`. The writes (`SourceWrites`, `TargetWrites`: the dual writer's)
are conditional and idempotent by transaction id, so each is safe to retry.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self

from monitor.config import DynamoSettings
from monitor.core.item import Item, item_key_label, text_of
from monitor.core.mapping import IndexMap, MappingError, TableMapping
from monitor.core.sampling import SqlSample
from monitor.model import IndexInfo, KeyStatus, KeyValue
from monitor.stores.budget import ReadBudget

#: A SQL row: column -> value (asyncpg's Record reads like this).
Row = Mapping[str, Any]
#: Where a paged Scan resumes; opaque to the caller (kept as JSON in the monitor's schema).
Cursor = dict[str, Any]

__all__ = [
    "Cursor",
    "DiscoveryCursor",
    "DiscoveryState",
    "Row",
    "SliceRead",
    "InvalidItem",
    "ScanPage",
    "SourceStore",
    "SourceRepairs",
    "SourceWrites",
    "TargetRepairs",
    "TargetProbes",
    "TargetStore",
    "TargetWrites",
]


@dataclass(frozen=True, slots=True)
class InvalidItem:
    """An item of a slice whose key or status cannot be read: reported, never dropped."""

    #: The key its sort key embeds (None when the template has none or it does not parse).
    embedded_key: KeyValue | None
    #: How a finding names the item (`item_key_label`: never the content of a bad value).
    label: KeyValue
    sk: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ScanPage:
    """One page of a segmented partition-key Scan."""

    partition_keys: set[str]
    #: Where the segment resumes; None when it is finished.
    next_key: Cursor | None
    #: Read units this page cost (this request's own, not the process-wide budget's).
    read_units: float


@dataclass(slots=True)
class SliceRead:
    """(key, status) of every item of one slice, and the items that could not be read.

    Plain dicts, not one object per item: `check counts` holds every record of its window here
    once, and the diff runs as set operations over them (`core.reconcile.diff_maps`).
    """

    #: Key -> write status of the first item read with each key.
    statuses: dict[KeyValue, str | None] = field(default_factory=dict)
    #: Key -> sort key of that item: names missing_in_sql findings.
    sort_keys: dict[KeyValue, str] = field(default_factory=dict)
    #: Every further item whose key attribute repeats one already read (each its own finding).
    duplicates: list[tuple[KeyStatus, str]] = field(default_factory=list)
    invalid: list[InvalidItem] = field(default_factory=list)

    @property
    def readable(self) -> int:
        """Items whose key and status could be read (duplicates included)."""
        return len(self.statuses) + len(self.duplicates)

    def entries(self) -> Iterator[KeyStatus]:
        """Every readable item as (key, status), duplicates included."""
        for key, status in self.statuses.items():
            yield KeyStatus(key, status)
        for entry, _ in self.duplicates:
            yield entry

    def add_plain(self, key: KeyValue, status: str | None, sk: str) -> None:
        """One item whose key and status were read on the adapter's fast path."""
        self.add_plain_items(((key, status, sk),))

    def add_plain_items(self, items: Iterable[tuple[KeyValue, str | None, str]]) -> None:
        statuses, sort_keys = self.statuses, self.sort_keys
        for key, status, sk in items:
            if key in statuses:
                self.duplicates.append((KeyStatus(key, status), sk))
            else:
                statuses[key] = status
                sort_keys[key] = sk

    def add(self, mapping: TableMapping, item: Item) -> None:
        """One item of the slice: its key and status, or why they cannot be read."""
        sk = text_of(item, mapping.sort_key)
        try:
            key, status = mapping.key_from_item(item), mapping.status_from_item(item)
        except MappingError as exc:
            embedded = None if sk is None else mapping.key_from_sort_key(sk)
            label = item_key_label(item.get(mapping.key_attribute))
            self.invalid.append(InvalidItem(embedded, label, sk, str(exc)))
        else:
            self.add_plain(key, status, sk or "")


class SourceStore(Protocol):
    """The mapped SQL table. Every read is bounded by the window or the keys it is given."""

    @property
    def mapping(self) -> TableMapping: ...

    # --- counts ----------------------------------------------------------------------------

    async def partition_counts(
        self, start: datetime, end: datetime
    ) -> list[tuple[tuple[str, ...], int]]:
        """Records per partition value in `[start, end)` (rows with a NULL one left out)."""
        ...

    async def null_partition_count(self, start: datetime, end: datetime) -> int:
        """Rows in `[start, end)` whose partition columns are NULL (no DynamoDB key possible)."""
        ...

    async def cut_points(
        self, partition: Sequence[str], start: datetime, end: datetime, pieces: int
    ) -> list[datetime]:
        """Timestamps that cut one partition's range into `pieces` slices of similar size."""
        ...

    async def slice_key_status(
        self, partition: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[Any, str | None]]:
        """(key, status) of every row of one partition in `[start, end)`."""
        ...

    async def bucket_checksums(
        self, start: datetime, end: datetime, edges: Sequence[datetime]
    ) -> list[tuple[tuple[str, ...], int, int, int]]:
        """(partition value, bucket, rows, checksum) over `[start, end)`, in one read: bucket
        `i` (1-based) holds `[edges[i-1], edges[i])`, the last one up to `end`; the checksum is
        the sum of `core.checksum.key_status_hash` over the bucket's rows."""
        ...

    async def status_counts(self, start: datetime, end: datetime) -> dict[str | None, int]:
        """Rows per write status in `[start, end)`."""
        ...

    # --- rows ------------------------------------------------------------------------------

    async def pending_rows(self, start: datetime, end: datetime) -> Sequence[Row]:
        """Key, status and key-template columns of the pending rows in `[start, end)`."""
        ...

    def pending_batches(
        self, start: datetime, end: datetime, size: int
    ) -> AsyncIterator[Sequence[Row]]:
        """`pending_rows`, at most `size` rows at a time in (timestamp, key) order."""
        ...

    async def rows_by_keys(self, keys: Sequence[Any]) -> Sequence[Row] | None:
        """Key, status and key-template columns of the rows with these keys (of one type).

        None when the key column cannot hold such keys (then no row can have them).
        """
        ...

    async def table_columns(self) -> frozenset[str]:
        """The names of the mapped table's columns."""
        ...

    async def sample_window(
        self,
        start: datetime,
        end: datetime,
        size: int,
        columns: Sequence[str],
        *,
        rng: random.Random,
        seed: float | None = None,
    ) -> SqlSample:
        """A uniform random sample of at most `size` rows of `[start, end)`, these columns.

        `seed` (in [-1, 1]) makes the store's own randomness repeatable, for tests.
        """
        ...


class SourceWrites(Protocol):
    """The dual writer's SQL side: each write one transaction, idempotent by transaction id."""

    async def insert_pending(self, row: Row, transaction_column: str) -> str | None:
        """Insert `row` unless its key exists; then the existing row's transaction id."""
        ...

    async def set_status(
        self,
        key: Any,
        transaction_column: str,
        transaction_id: str,
        status: str,
        expected: Sequence[str],
    ) -> bool:
        """Move this transaction's row to `status` if it is in one of `expected` (or already
        there). False when no row of this transaction qualifies."""
        ...

    async def delete_pending(self, key: Any, transaction_column: str, transaction_id: str) -> bool:
        """Hard compensation: delete this transaction's pending row; True when none is left."""
        ...


class TargetStore(Protocol):
    """The mapped DynamoDB table: sliced Queries, batched reads, one read budget."""

    @property
    def mapping(self) -> TableMapping: ...

    @property
    def settings(self) -> DynamoSettings: ...

    @property
    def budget(self) -> ReadBudget: ...

    @property
    def read_units(self) -> float:
        """Read units this view's requests consumed (a run's own view: see `for_run`)."""
        ...

    def for_run(self) -> Self:
        """A view sharing the client, budget and limits whose `read_units` meter one run."""
        ...

    # --- reads -----------------------------------------------------------------------------

    async def slice_keys(self, pk: str, start_sk: str, end_sk: str) -> SliceRead:
        """(key, status) of every item of one partition with its sort key in `[start_sk, end_sk]`."""
        ...

    async def batch_get(
        self,
        keys: Sequence[tuple[str, str]],
        projection: Sequence[str] | None = None,
        *,
        consistent: bool = False,
    ) -> list[Item]:
        """The items at these (pk, sk) locations that exist, projected; none is ever dropped."""
        ...

    async def query_range(
        self,
        pk: str,
        start_sk: str,
        end_sk: str,
        projection: Sequence[str],
        *,
        index: IndexMap | None = None,
        status: str | None = None,
    ) -> list[Item]:
        """Items of one partition (of `index`, if given) with the sort key in the range.

        With `status`, only items whose status attribute equals it.
        """
        ...

    def query_range_pages(
        self,
        pk: str,
        start_sk: str,
        end_sk: str,
        projection: Sequence[str],
        *,
        index: IndexMap | None = None,
        status: str | None = None,
    ) -> AsyncIterator[list[Item]]:
        """`query_range` one response page at a time: memory holds a page, whatever the range."""
        ...

    async def scan_partition_keys_page(
        self,
        segment: int,
        segments: int,
        start_key: Cursor | None,
        limit: int | None = None,
    ) -> ScanPage:
        """One page of a segmented partition-key Scan, and where to resume."""
        ...

    async def indexes(self) -> list[IndexInfo]:
        """The table's global secondary indexes as DynamoDB describes them."""
        ...


class TargetWrites(Protocol):
    """The dual writer's DynamoDB side: conditional writes, idempotent by transaction id.

    An item is located by its (pk, sk); the adapter encodes items to the wire format.
    """

    def item_location(self, row: Row) -> tuple[str, str]:
        """(pk, sk) of the item `row` maps to, for `set_status`."""
        ...

    async def put_new(self, item: Item, transaction_attribute: str) -> str | None:
        """Put `item` unless an item with its key exists; then that item's transaction id."""
        ...

    async def set_status(
        self,
        location: tuple[str, str],
        transaction_attribute: str,
        transaction_id: str,
        status: str,
        expected: Sequence[str],
    ) -> bool:
        """Move this transaction's item to `status` if it is in one of `expected` (or already
        there), removing the pending-index attributes once final; never creates an item."""
        ...


class SourceRepairs(SourceWrites, Protocol):
    """Repair's SQL side: whole rows, and status writes conditional on what repair saw."""

    async def whole_rows(self, keys: Sequence[Any]) -> Sequence[Row]:
        """Every column of the rows with these keys (of one type)."""
        ...

    async def conditional_status(
        self,
        key: Any,
        status: str,
        *,
        seen_status: str | None,
        seen_updated_at: datetime | None,
        updated_at_column: str | None,
    ) -> bool:
        """Set the row's status only if it still has the status (and `updated_at`) repair saw."""
        ...


class TargetRepairs(Protocol):
    """Repair's DynamoDB side: every write conditional on the item as repair read it; False
    means nothing was written because the item changed."""

    async def consistent_items(self, keys: Sequence[tuple[str, str]]) -> list[Item]:
        """Whole items at these (pk, sk) locations, strongly consistent."""
        ...

    async def put_if_absent(self, item: Item) -> bool: ...

    async def put_if_unchanged(self, item: Item, current: Item) -> bool:
        """Put `item` over `current` only while its scalar attributes are as read."""
        ...

    async def delete_if_status(self, pk: str, sk: str, seen_status: str | None) -> bool: ...

    async def set_status_if(self, pk: str, sk: str, status: str, seen_status: str | None) -> bool:
        """A final status also removes the pending-index attributes."""
        ...

    async def clear_pending_index_if(self, pk: str, sk: str, seen_status: str | None) -> bool:
        """Remove the pending-index attributes while the item has them and `seen_status`
        (cleanup: an item whose status is final left in the sparse index)."""
        ...


class TargetProbes(Protocol):
    """Preflight's DynamoDB side: real calls that prove permissions and write nothing."""

    async def probe_query(self, pk: str, *, index: tuple[str, str] | None = None) -> None:
        """A Query of at most one item of partition `pk`, of the table or of `index` (name,
        partition key attribute)."""
        ...

    async def put_if_present(self, item: Item) -> bool:
        """Put `item` only where an item with its key exists; False: nothing written."""
        ...


@dataclass(frozen=True, slots=True)
class DiscoveryCursor:
    """Where one Scan segment of the discovery pass in progress stands."""

    segment: int
    total_segments: int
    last_key: Cursor | None
    done: bool
    pass_started_at: datetime


class DiscoveryState(Protocol):
    """What partition discovery remembers between runs (ARCHITECTURE decision 2)."""

    async def remembered_partitions(self) -> list[tuple[str, ...]]:
        """Every partition value a discovery Scan ever found."""
        ...

    async def remember_partitions(self, found: Iterable[tuple[str, Sequence[str]]]) -> None:
        """Remember (partition key, partition values) pairs; known ones are kept once."""
        ...

    async def last_discovery(self) -> datetime | None:
        """When the last complete discovery pass finished (None: never)."""
        ...

    async def discovery_cursors(self) -> list[DiscoveryCursor]:
        """The segments of the pass in progress, by segment (empty: no pass in progress)."""
        ...

    async def save_cursor(self, cursor: DiscoveryCursor) -> None: ...

    async def finish_discovery_pass(
        self, partition_keys: int, read_units: float, finished_at: datetime
    ) -> None:
        """Record a complete pass and clear its cursors, atomically."""
        ...

"""The migration's commands: `[verify]`, `[writer]`, `[stream]`, `[repair]`, `[cleanup]`, `[preflight]`, `[gates]`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from monitor.config.values import Duration, Identifier, Section, http_url, identifier, positive


class VerifySettings(Section):
    """`dualwrite-monitor verify`: the whole history, window by window, resumably."""

    #: One window of the walk: reconciled like `check counts`, then checkpointed, so an
    #: interrupted run loses at most the window in progress.
    window: Duration = timedelta(hours=1)
    #: Windows per shard: the unit one worker claims (its own advisory lock), so N processes
    #: running the same range share the work and never read one shard twice at once.
    shard_windows: int = Field(default=24, ge=1, le=100_000)
    #: Shards one process verifies at once (their slices share [dynamodb] max_concurrency): a
    #: window's slices alone rarely fill the concurrency, several windows do.
    windows_in_flight: int = Field(default=4, ge=1, le=64)
    #: The daemon re-verifies the history in a rolling cycle: every cycle walks `start` up to
    #: now - settle (checkpointed: a restart resumes the cycle), then the next one starts.
    #: Every replica takes part, sharing the cycle's shards.
    enabled: bool = False
    #: The start of the history the daemon re-verifies (ISO-8601 with zone); required when
    #: enabled. Empty: not set.
    start: str = ""
    #: The daemon's cycle reads at most this share of [dynamodb] max_read_units_per_second
    #: (and within it), leaving the rest to the interval checks.
    read_share: float = Field(default=0.25, gt=0, le=1)
    #: Wait after a finished cycle before the next one starts.
    cycle_pause: Duration = timedelta(hours=1)
    #: Share of each window's records whose [mapping] fields are also compared, drawn and
    #: judged as `check sample` does (0: keys and statuses only). Costs one BatchGetItem read
    #: per 100 sampled records, within the read budget.
    sample_fraction: float = Field(default=0.0, ge=0, le=1)
    # --- `verify --from-export`: the comparison runs in DuckDB, out of core ---------------
    #: The whole process's memory ceiling (e.g. "2GB"), DuckDB given its share; what does not
    #: fit spills to export_temp_dir.
    export_memory_limit: str = "2GB"
    #: Where an S3 export is staged, the snapshot files are written and DuckDB spills; empty:
    #: the system's temporary folder. Needs room for the export, the snapshot and the spill.
    export_temp_dir: str = ""
    #: DuckDB's worker threads; 0: one per core.
    export_threads: int = Field(default=0, ge=0, le=1024)
    #: Parallel COPY streams of the PostgreSQL snapshot (page ranges of one exported snapshot).
    export_sql_streams: int = Field(default=2, ge=1, le=64)
    #: Whether the snapshot's COPY runs while DuckDB reads the export: "always", "never" (the
    #: export first, then the snapshot), or "auto": at once only when PostgreSQL is on another
    #: machine. On one machine the two contend for its cores: at 10M records on 2 cores, one
    #: after the other took 21 s and at once 23-26 s.
    export_overlap: Literal["auto", "always", "never"] = "auto"
    #: The statement timeout of the snapshot's COPY, which outlives the interactive
    #: statement_timeout by design (a whole table is copied).
    export_copy_timeout: Duration = timedelta(hours=6)
    #: For an s3:// export: empty is AWS; set for a local S3-API server.
    export_s3_endpoint_url: str = ""

    @field_validator("window")
    @classmethod
    def _positive_window(cls, value: timedelta) -> timedelta:
        return positive(value)

    @field_validator("start")
    @classmethod
    def _zoned(cls, value: str) -> str:
        if value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO-8601 timestamp") from None
            if moment.tzinfo is None:
                raise ValueError("needs a time zone (add Z or +00:00)")
        return value

    @property
    def start_at(self) -> datetime | None:
        if not self.start:
            return None
        return datetime.fromisoformat(self.start.replace("Z", "+00:00")).astimezone(UTC)

    @model_validator(mode="after")
    def _start_when_enabled(self) -> VerifySettings:
        if self.enabled and not self.start:
            raise ValueError("enabled = true needs start (the history's first moment)")
        return self

    @field_validator("export_memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip()):
            raise ValueError(f'{value!r} is not a size such as "2GB" or "512MiB"')
        return value.strip()

    @field_validator("export_s3_endpoint_url")
    @classmethod
    def _s3_endpoint(cls, value: str) -> str:
        return http_url(value)

    @field_validator("export_copy_timeout")
    @classmethod
    def _positive_copy(cls, value: timedelta) -> timedelta:
        return positive(value)


class WriterSettings(Section):
    """The dual writer (`monitor.writer`, `generate`, `demo`)."""

    #: What a failed dual write does to its SQL row: "soft" marks it Compensated (readers may
    #: have seen it; the attempt stays on record), "delete" removes it.
    compensation: Literal["soft", "delete"] = "soft"
    #: The two commit marks: "sequential" marks SQL, then DynamoDB (CONTRACT §7); "concurrent"
    #: marks both at once, a round trip less per write. Either way both writes have landed, so
    #: a failed mark is never compensated: its side stays Pending for repair to finish.
    commit_marks: Literal["sequential", "concurrent"] = "sequential"
    #: Writes in flight at once (`generate`, the demo, `write_many`).
    concurrency: int = Field(default=16, ge=1, le=1000)
    #: Attempts per step on a transient store error (throttling, a lost connection), with capped
    #: exponential backoff; then the step fails for good (compensation or left pending).
    retries: int = Field(default=5, ge=3, le=20)
    #: The first backoff wait; each retry doubles it (with jitter).
    retry_delay: Duration = timedelta(milliseconds=50)
    #: How long the writer trusts the migration phase it read before reading it again.
    phase_cache: Duration = timedelta(seconds=5)


class StreamSettings(Section):
    """Continuous verification from change streams (CONTRACT §10)."""

    #: Consume the DynamoDB table's stream (NEW_AND_OLD_IMAGES) and verify every change.
    enabled: bool = False
    #: A change younger than this is in flight and not judged yet (the dual write's own steps
    #: take milliseconds; a slow write a few seconds).
    grace: Duration = timedelta(seconds=30)
    #: Without a checkpoint (the first start on a stream), read from "latest" (new changes only)
    #: or "trim_horizon" (everything the stream still holds, up to 24 hours).
    start_at: Literal["latest", "trim_horizon"] = "latest"
    #: How long an idle shard waits before asking for new records again.
    poll_interval: Duration = timedelta(seconds=1)
    #: Records per GetRecords call (DynamoDB Streams allows at most 1,000).
    records_per_call: int = Field(default=1000, ge=1, le=1000)
    #: Changes judged together: one SQL read (and, for SQL changes, BatchGetItems) per batch.
    batch_size: int = Field(default=500, ge=1, le=10000)
    #: How often the position of each shard (and of the PostgreSQL slot) is written down.
    checkpoint_interval: Duration = timedelta(seconds=5)
    #: Also verify each SQL change against DynamoDB, from PostgreSQL logical decoding (needs
    #: wal_level = logical; `setup` creates the publication and the slot).
    postgres: bool = False
    #: The logical replication slot and publication `setup` creates for that.
    slot: Identifier = "dualwrite_monitor"
    publication: Identifier = "dualwrite_monitor"
    #: `setup` sets REPLICA IDENTITY FULL on the watched table, so a deleted row reaches the
    #: slot whole and its item can be found (and judged: an item left behind is
    #: missing_in_sql). Off by default: it makes PostgreSQL log every updated or deleted row
    #: whole (more WAL), and it needs the table's owner.
    replica_identity_full: bool = False
    #: Retained WAL of the slot above this many megabytes logs a warning (an unconsumed slot
    #: fills the disk).
    max_retained_wal_mb: int = Field(default=1024, ge=1)
    #: How often the stream's figures become a `stream` report (metrics, /status, alert rules).
    report_interval: Duration = timedelta(minutes=1)
    #: Stream findings kept for /status.
    status_findings: int = Field(default=20, ge=0, le=1000)

    @field_validator("grace", "poll_interval", "checkpoint_interval", "report_interval")
    @classmethod
    def _positive_durations(cls, value: timedelta) -> timedelta:
        return positive(value)

    @field_validator("slot")
    @classmethod
    def _slot_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]{1,63}", value):
            raise ValueError("a replication slot name is lower-case letters, digits and _")
        return value


class RepairSettings(Section):
    """`dualwrite-monitor repair` (CONTRACT §8), and the daemon's own repair when enabled."""

    #: The daemon repairs too (plans from every check, then applies, conditional and audited):
    #: off by default, so the monitor writes nothing outside its own schema unless this is on
    #: or `repair --apply` is run.
    enabled: bool = False
    #: How often the daemon repairs, when enabled.
    interval: Duration = timedelta(minutes=15)
    #: At most this many actions per daemon repair run (the rest wait for the next run).
    max_actions_per_run: int = Field(default=100, ge=1)

    #: A DynamoDB item with no SQL row: mark it Compensated (soft), or delete it.
    dynamodb_only: Literal["compensate", "delete"] = "compensate"
    #: A SQL column repair compares with the status in its WHERE (and sets to now()); empty:
    #: the table has none, and only the status is compared.
    updated_at_column: str = "updated_at"
    #: Conditional writes per second, both stores together: repair never writes faster.
    max_writes_per_second: float = Field(default=50, gt=0)

    @field_validator("updated_at_column")
    @classmethod
    def _column(cls, value: str) -> str:
        return value and identifier(value)


class CleanupSettings(Section):
    """`dualwrite-monitor cleanup` (dry run unless --apply)."""

    #: Rows of the monitor's repair audit (finished) and alert outbox (delivered or superseded)
    #: older than this are removed by `cleanup --apply`.
    retention: Duration = timedelta(days=90)


class PreflightSettings(Section):
    """`dualwrite-monitor preflight` and the `dual-write` gate (CONTRACT §4b)."""

    #: A store whose p99 round trip is slower than this fails the (advisory) latency item.
    max_latency: Duration = timedelta(milliseconds=250)
    #: Backups (DynamoDB point-in-time recovery, PostgreSQL WAL archiving) are advisory unless
    #: this is true: then preflight, and so the `dual-write` gate, refuses without them.
    require_backups: bool = False


class GatesSettings(Section):
    """`dualwrite-monitor gate dual-write|read-switch|write-switch` (CONTRACT §4b)."""

    #: The settled window counts, orphans and the field-accuracy sample judge.
    window: Duration = timedelta(hours=1)
    #: The latest part of that window the canary reads cover (SQL reads it per pattern value).
    canary_window: Duration = timedelta(minutes=10)
    #: Partition values read per read pattern, drawn at random from the window.
    canary_reads: int = Field(default=5, ge=1, le=1000)
    #: The canary reads' DynamoDB p99 must be within this (the seed's performance verification).
    canary_latency_budget: Duration = timedelta(milliseconds=100)
    #: After `--apply` switches the phase, the validation waits for this many records written
    #: after the switch in a settled window (real traffic, not a fixed sleep) before it judges.
    after_switch_records: int = Field(default=100, ge=1)
    #: How long that validation waits for them; then it fails, saying what it saw.
    after_switch_timeout: Duration = timedelta(minutes=15)

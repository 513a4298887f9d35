"""`verify --from-export DIR|s3://...` (CONTRACT §9): a DynamoDB export against one PostgreSQL
snapshot, compared in DuckDB, reported like `check counts`.

The export costs DynamoDB no read capacity (`ExportTableToPointInTime`), the snapshot is one
REPEATABLE READ transaction of PostgreSQL (read only), and the join runs on this machine within
`[verify] export_memory_limit`, spilling to `export_temp_dir`. The range ends at the export's
`exportTime` minus `[checks.counts] settle`: a record younger than that was in flight when the
export was taken.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import duckdb

from monitor.config import FieldSettings, Settings
from monitor.core.dsn import dsn_is_local
from monitor.core.mapping import TableMapping
from monitor.core.windows import align_down
from monitor.errors import MonitorError
from monitor.model import CheckReport, Window
from monitor.stores.pg_snapshot import (
    ExportedField,
    FieldValue,
    Snapshot,
    export_snapshot,
    key_column_of_table,
)
from monitor.verify.export_compare import ComparedField, ExportComparer, Limits
from monitor.verify.export_findings import Comparison
from monitor.verify.export_lines import unreadable_line
from monitor.verify.export_manifest import ExportError
from monitor.verify.export_report import export_report
from monitor.verify.export_source import LocalExport, check_checksums, open_local, open_s3

#: The start of a range given no `--from`: the whole history.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
#: Text forms a time attribute may take besides the sort key's own format.
_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
)

T = TypeVar("T")

#: progress(what is happening, e.g. "snapshot: 1/2 streams")
ExportProgress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ExportRequest:
    location: str
    start: datetime | None = None
    until: datetime | None = None
    fields: bool = False
    strict: bool = False
    progress: ExportProgress | None = None


def export_fields(
    settings: Settings, mapping: TableMapping
) -> tuple[list[ExportedField], list[ComparedField]]:
    """Each compared field as the snapshot exports it and as DuckDB reads its attribute."""
    sk_format = mapping.sort_template.time_format
    formats = tuple(dict.fromkeys([*(() if sk_format is None else (sk_format,)), *_TIME_FORMATS]))
    exported: list[ExportedField] = []
    compared: list[ComparedField] = []
    for f in settings.mapping.fields:
        value: FieldValue = "epoch_us" if f.compare == "timestamp" else "md5"
        exported.append(ExportedField(f.column, value))
        compared.append(ComparedField(f.column, f.attribute, value, _tolerance_us(f), formats))
    return exported, compared


def _tolerance_us(f: FieldSettings) -> int:
    return 0 if f.tolerance is None else int(f.tolerance.total_seconds() * 1_000_000)


def export_window(
    mapping: TableMapping, export_time: datetime, settings: Settings, request: ExportRequest
) -> Window:
    settled = align_down(export_time - settings.checks.counts.settle, mapping.sort_resolution)
    end, clamped = settled, False
    if request.until is not None:
        end, clamped = (settled, True) if request.until > settled else (request.until, False)
    start = request.start or BEGINNING
    if start >= end:
        raise ExportError(
            request.location,
            f"the range starts at {start.isoformat()}, not before its end {end.isoformat()}"
            " (the export's exportTime minus settle, or --until)",
        )
    return Window(start, end, clamped)


async def verify_export(settings: Settings, request: ExportRequest) -> CheckReport:
    say = request.progress or (lambda _text: None)
    clock = _Clock()
    root = Path(settings.verify.export_temp_dir or tempfile.gettempdir())
    work = root / f"dualwrite-verify-{secrets.token_hex(4)}"
    await anyio.Path(work).mkdir(parents=True)
    try:
        with clock.step("export"):
            export = await _open(settings, request, work / "export", say, checked=False)
        mapping = settings.table_mapping()
        window = export_window(mapping, export.manifest.export_time, settings, request)
        exported, compared = export_fields(settings, mapping) if request.fields else ([], [])
        key = await key_column_of_table(settings.postgres, mapping)
        mapping = replace(mapping, key_kind=key.kind)
        limits = Limits(
            settings.verify.export_memory_limit, work / "duckdb", settings.verify.export_threads
        )
        comparer = ExportComparer(mapping, key.kind, limits, int64_keys=key.int64)
        try:
            snapshots: list[Snapshot] = []
            async with anyio.create_task_group() as group:

                async def take_snapshot() -> None:
                    with clock.step("snapshot"):
                        snapshots.append(
                            await export_snapshot(
                                settings.postgres,
                                mapping,
                                work / "sql",
                                start=window.start,
                                end=window.end,
                                fields=exported,
                                streams=settings.verify.export_sql_streams,
                                copy_timeout=settings.verify.export_copy_timeout,
                                progress=lambda done, total: say(
                                    f"snapshot: {done}/{total} COPY streams done"
                                ),
                                render_keys=False,  # DuckDB renders them: half the COPY's cost
                            )
                        )

                beside = overlaps(settings)
                if beside:  # PostgreSQL's work is not on this machine's cores
                    group.start_soon(take_snapshot)
                with clock.step("read_export"):
                    await _read_checked(limits, comparer, export, compared, say)
                if not beside:  # after the export: a damaged one fails before PostgreSQL is read
                    await take_snapshot()
            (snapshot,) = snapshots
            comparison = await anyio.to_thread.run_sync(
                _in_memory, limits, _finish, comparer, snapshot, window, compared, say, clock
            )
        finally:
            comparer.close()
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, work, True)
    return export_report(
        settings,
        mapping,
        window,
        export.manifest,
        snapshot.snapshot_id,
        comparison,
        engine="duckdb",
        fields=request.fields,
        strict=request.strict,
        seconds=clock.laps,
    )


def overlaps(settings: Settings) -> bool:
    """Whether the snapshot's COPY runs while DuckDB reads the export (`[verify] export_overlap`).

    At once, the COPY's server work and DuckDB's threads share the cores when PostgreSQL runs
    on this machine: on 2 cores at 10M records both then cost more CPU (DuckDB 29 -> 32-36 s)
    and the run took 23-26 s against 21 s one after the other. A remote server's work is its
    own; only the COPY's client (~2 CPU s per 10M rows) is left beside DuckDB here.
    """
    mode = settings.verify.export_overlap
    if mode == "auto":
        return not dsn_is_local(settings.postgres.dsn.get_secret_value())
    return mode == "always"


class _Clock:
    """Seconds spent in each step of a run, for the report (where the time of a large run goes).

    Steps may overlap (the snapshot is taken while the export is read)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.laps[name] = round(time.monotonic() - started, 3)


#: What `--snapshot-to` writes beside the snapshot's CSV files, for the Spark job.
SNAPSHOT_FILE = "snapshot.json"


async def snapshot_for_spark(
    settings: Settings, request: ExportRequest, out: Path
) -> dict[str, Any]:
    """The PostgreSQL snapshot of an export's range, to `out` (CSV files and `snapshot.json`).

    The Spark job (`monitor/verify/spark_job.py`) compares it with the export; the export's
    data files are not read here.
    """
    export = await _open(settings, request, out / ".export", request.progress or _quiet, data=False)
    mapping = settings.table_mapping()
    window = export_window(mapping, export.manifest.export_time, settings, request)
    exported, _ = export_fields(settings, mapping) if request.fields else ([], [])
    snapshot = await export_snapshot(
        settings.postgres,
        mapping,
        out,
        start=window.start,
        end=window.end,
        fields=exported,
        streams=settings.verify.export_sql_streams,
        copy_timeout=settings.verify.export_copy_timeout,
    )
    description = {
        "snapshot": snapshot.snapshot_id,
        "key_kind": str(snapshot.key_kind),
        "export": {"id": export.manifest.export_id, "location": request.location},
        "window": {
            "start": _iso(window.start),
            "end": _iso(window.end),
            "clamped": window.clamped,
        },
        "fields": request.fields,
        "files": [f.name for f in snapshot.files],
        "columns": list(snapshot.columns),
    }
    await anyio.Path(out / SNAPSHOT_FILE).write_text(json.dumps(description, indent=2))
    await anyio.to_thread.run_sync(shutil.rmtree, out / ".export", True)
    return description


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _quiet(_text: str) -> None:
    return None


async def _open(
    settings: Settings,
    request: ExportRequest,
    staging: Path,
    say: ExportProgress,
    *,
    data: bool = True,
    checked: bool = True,
) -> LocalExport:
    if request.location.startswith("s3://"):
        return await open_s3(
            request.location,
            staging,
            region=settings.dynamodb.region,
            endpoint_url=settings.verify.export_s3_endpoint_url,
            request_timeout=settings.dynamodb.request_timeout.total_seconds(),
            progress=lambda done, total: say(f"export: {done}/{total} data files copied"),
            data=data,
            checked=checked,
        )
    return await open_local(Path(request.location), checked=checked)


def _in_memory(limits: Limits, work: Callable[..., T], *args: Any) -> T:
    """Run a DuckDB step; running out of memory is one line that says which key to raise."""
    try:
        return work(*args)
    except duckdb.OutOfMemoryException:
        raise ComparisonFailed(
            f"DuckDB ran out of memory within [verify] export_memory_limit = {limits.memory_limit!r}"
            " (with its spill in export_temp_dir); raise the limit"
        ) from None


class ComparisonFailed(MonitorError):
    """The comparison could not finish (exit 3), for a reason the message says how to fix."""


async def _read_checked(
    limits: Limits,
    comparer: ExportComparer,
    export: LocalExport,
    compared: Sequence[ComparedField],
    say: ExportProgress,
) -> None:
    """Read the export while its data files' checksums are checked beside it, so the md5 pass
    costs no wall time of its own. A damaged file is reported as damaged, whatever the read
    made of it."""
    damaged: list[ExportError] = []
    unreadable: ExportError | None = None

    def check() -> None:
        try:
            check_checksums(export.location, export.folder, export.manifest.files)
        except ExportError as exc:
            damaged.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(anyio.to_thread.run_sync, check)
        try:
            await anyio.to_thread.run_sync(
                _in_memory, limits, _load_export, comparer, export, compared, say
            )
        except ExportError as exc:
            unreadable = exc  # the checksums may say why: wait for them
    if damaged:
        raise damaged[0]
    if unreadable is not None:
        raise unreadable


def _load_export(
    comparer: ExportComparer,
    export: LocalExport,
    fields: Sequence[ComparedField],
    say: ExportProgress,
) -> None:
    with comparer.watched(lambda p: say(f"reading the export: {p:.0f} %")):
        try:
            comparer.load_export(export.data_paths, fields)
        except duckdb.OutOfMemoryException:
            raise
        except duckdb.Error as exc:
            where = unreadable_line(comparer.con, export.data_paths) or type(exc).__name__
            raise ExportError(export.location, f"a data file cannot be read: {where}") from None


def _finish(
    comparer: ExportComparer,
    snapshot: Snapshot,
    window: Window,
    fields: Sequence[ComparedField],
    say: ExportProgress,
    clock: _Clock,
) -> Comparison:
    with (
        clock.step("read_snapshot"),
        comparer.watched(lambda p: say(f"reading the snapshot: {p:.0f} %")),
    ):
        comparer.load_snapshot(snapshot.files, _snapshot_types(snapshot, fields), snapshot.raw_keys)
    lo, hi = comparer.mapping.sort_key_bounds(window.start, window.end)
    with clock.step("compare"), comparer.watched(lambda p: say(f"comparing: {p:.0f} %")):
        return comparer.compare((None if window.start == BEGINNING else lo, hi), fields)


def _snapshot_types(snapshot: Snapshot, fields: Sequence[ComparedField]) -> list[tuple[str, str]]:
    kinds = ["BIGINT" if f.value == "epoch_us" else "VARCHAR" for f in fields]
    keys = len(snapshot.columns) - len(fields)
    base = [(c, "") for c in snapshot.columns[:keys]]
    return base + [(c, kind) for c, kind in zip(snapshot.columns[keys:], kinds, strict=True)]

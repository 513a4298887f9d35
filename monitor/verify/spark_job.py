"""`verify --from-export` as a Spark job, for tables one machine cannot compare in time.

    dualwrite-monitor verify --from-export s3://bucket/p/AWSDynamoDB/ID/ --snapshot-to ./snap
    aws s3 cp --recursive ./snap s3://bucket/snapshots/ID/
    spark-submit --packages org.apache.hadoop:hadoop-aws:3.4.1 monitor/verify/spark_job.py \\
        --config config.toml --export s3a://bucket/p/AWSDynamoDB/ID --snapshot s3a://bucket/snapshots/ID

The first command takes the PostgreSQL snapshot of the export's range (the same COPY as the
DuckDB path) and describes it in `snapshot.json`; the job reads the export's gzipped DynamoDB
JSON and the snapshot's CSV files (local, HDFS or S3 paths, as Spark reads them), checks each
data file against its `md5Checksum` as the DuckDB path does, joins them on
(partition key, record key) like the DuckDB path, and prints the same report: the same findings
and figures, decided by the same code (`export_findings`). The executors run Spark SQL only (no
Python UDF): only the driver needs this package installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window as Rows

from monitor.config import Settings, load_settings
from monitor.core.mapping import KeyKind, TableMapping
from monitor.core.timefmt import translate_time_format
from monitor.errors import EXIT_INCONSISTENT, EXIT_OK, MonitorError, UsageError
from monitor.model import CheckReport, Window
from monitor.verify.export_compare import ComparedField
from monitor.verify.export_findings import (
    Comparison,
    DiffRow,
    JoinCounts,
    decode_slow,
    field_finding,
    key_finding,
)
from monitor.verify.export_manifest import (
    FILES,
    SUMMARY,
    DataFile,
    ExportError,
    damaged_data_file,
    md5_checksum,
    missing_data_file,
)
from monitor.verify.export_report import export_report
from monitor.verify.export_run import BEGINNING, SNAPSHOT_FILE, export_fields
from monitor.verify.export_source import manifest_from

#: strftime directive -> Java DateTimeFormatter pattern (the directives a key template may use).
_JAVA = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS"}
_KEY_DECIMAL = T.DecimalType(38, 0)


def java_pattern(fmt: str) -> str:
    """A strftime format of key-template directives as a Spark datetime pattern."""
    return translate_time_format(fmt, _JAVA, lambda c: "'" + c.replace("'", "''") + "'")


def read_text(spark: SparkSession, path: str) -> str | None:
    """A small file's text (a manifest, snapshot.json), or None when it does not exist."""
    try:
        rows = spark.read.text(path, wholetext=True).collect()
    except AnalysisException:
        return None
    return str(rows[0][0]) if rows else ""


def _join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run_job(
    spark: SparkSession, settings: Settings, export: str, snapshot: str, *, strict: bool = False
) -> CheckReport:
    started = time.monotonic()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    described = read_text(spark, _join(snapshot, SNAPSHOT_FILE))
    if described is None:
        raise UsageError(
            f"{_join(snapshot, SNAPSHOT_FILE)} does not exist: write the snapshot first with"
            " `dualwrite-monitor verify --from-export EXPORT --snapshot-to DIR`"
        )
    description = json.loads(described)
    summary, files = (read_text(spark, _join(export, name)) for name in (SUMMARY, FILES))
    manifest = manifest_from(
        None if summary is None else summary.encode(),
        None if files is None else files.encode(),
        export,
    )
    if description["export"]["id"] != manifest.export_id:
        raise ExportError(
            export,
            f"the snapshot in {snapshot} was taken for export {description['export']['id']},"
            f" not {manifest.export_id}",
        )
    mapping = replace(settings.table_mapping(), key_kind=KeyKind(description["key_kind"]))
    window = Window(
        _moment(description["window"]["start"]),
        _moment(description["window"]["end"]),
        bool(description["window"]["clamped"]),
    )
    fields: list[ComparedField] = (
        export_fields(settings, mapping)[1] if description["fields"] else []
    )
    check_checksums(spark, export, manifest.files)
    comparison = compare(
        spark,
        mapping,
        [_join(export, f.path) for f in manifest.files],
        [_join(snapshot, name) for name in description["files"]],
        window,
        fields,
    )
    return export_report(
        settings,
        mapping,
        window,
        manifest,
        str(description["snapshot"]),
        comparison,
        engine="spark",
        fields=bool(description["fields"]),
        strict=strict,
        seconds={"job": round(time.monotonic() - started, 3)},
    )


def check_checksums(spark: SparkSession, export: str, files: Sequence[DataFile]) -> None:
    """Each data file with an `md5Checksum` hashes to it, before anything compares it (as the
    DuckDB path checks them): a damaged or partial copy would read as items missing from
    DynamoDB. The executors hash the files (Spark SQL's `md5` of each file's bytes, read whole:
    a data file of an export is well under the 2 GB a binary row may hold); the first file that
    does not match, in the manifest's order, is one line naming it."""
    listed = [f for f in files if f.md5 is not None]
    if not listed:
        return
    try:
        frame = spark.read.format("binaryFile").load([_join(export, f.path) for f in listed])
    except AnalysisException as exc:
        raise _missing(export, listed, exc) from None
    # Spark names each file by its qualified path (`file:/…`, `s3a://…`): matched by the end.
    by_name: dict[str, list[tuple[str, str]]] = {}
    for path, md5 in frame.select("path", F.md5("content")).collect():
        by_name.setdefault(str(path).rsplit("/", 1)[-1], []).append((str(path), str(md5)))
    for data in listed:
        candidates = by_name.get(data.path.rsplit("/", 1)[-1], [])
        found = [md5 for path, md5 in candidates if path.endswith("/" + data.path)]
        if [md5_checksum(bytes.fromhex(md5)) for md5 in found] != [data.md5]:
            raise damaged_data_file(export, data)


def _missing(export: str, files: Sequence[DataFile], exc: AnalysisException) -> Exception:
    """A listed data file Spark cannot find, named as the DuckDB path names it."""
    condition = getattr(exc, "getCondition", None) or exc.getErrorClass
    path = str(exc.getMessageParameters().get("path", ""))
    if condition() == "PATH_NOT_FOUND":
        for data in files:
            if path.endswith("/" + data.path):
                return missing_data_file(export, data)
    return ExportError(export, f"the data files cannot be read ({condition()})")


def _item_schema(mapping: TableMapping, fields: Sequence[ComparedField]) -> T.StructType:
    """Keys as structs of S; the key, status and field attributes as their raw JSON text."""
    members: dict[str, T.DataType] = {
        mapping.partition_key: T.StructType([T.StructField("S", T.StringType())]),
        mapping.sort_key: T.StructType([T.StructField("S", T.StringType())]),
        mapping.key_attribute: T.StringType(),
        mapping.status_attribute: T.StringType(),
    }
    for f in fields:
        members.setdefault(f.attribute, T.StringType())
    item = T.StructType([T.StructField(name, kind) for name, kind in members.items()])
    return T.StructType([T.StructField("Item", item), T.StructField("_corrupt", T.StringType())])


def _field_value(raw: Column, f: ComparedField) -> Column:
    """The value the snapshot computes for the column, from the attribute's JSON."""
    if f.value == "epoch_us":
        text = F.get_json_object(raw, "$.S")
        times = [F.try_to_timestamp(text, F.lit(java_pattern(x))) for x in f.time_formats]
        return F.unix_micros(F.coalesce(*times))
    tags = [F.get_json_object(raw, f"$.{tag}") for tag in ("S", "N", "BOOL")]
    return F.md5(F.coalesce(*tags))


def read_export(
    spark: SparkSession,
    mapping: TableMapping,
    paths: Sequence[str],
    fields: Sequence[ComparedField],
) -> DataFrame:
    lines = (
        spark.read.schema(_item_schema(mapping, fields))
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt")
        .json(list(paths))
    )
    item = F.col("Item")
    key_raw, status_raw = item[mapping.key_attribute], item[mapping.status_attribute]
    key_n, key_s = F.get_json_object(key_raw, "$.N"), F.get_json_object(key_raw, "$.S")
    if mapping.key_kind is KeyKind.NUMBER:
        key = F.when(key_n.rlike("^-?[0-9]{1,38}$") & key_s.isNull(), key_n.cast(_KEY_DECIMAL))
    else:
        key = F.when(key_n.isNull(), key_s)
    status = F.get_json_object(status_raw, "$.S")
    slow = key.isNull() | (status_raw.isNotNull() & status.isNull())
    return lines.select(
        item[mapping.partition_key]["S"].alias("pk"),
        item[mapping.sort_key]["S"].alias("sk"),
        key.alias("key"),
        status.alias("status"),
        key_raw.alias("key_raw"),
        status_raw.alias("status_raw"),
        slow.alias("slow"),
        F.col("_corrupt").isNotNull().alias("corrupt"),
        *(_field_value(item[f.attribute], f).alias(f"f_{i}") for i, f in enumerate(fields)),
    )


def read_snapshot(
    spark: SparkSession, paths: Sequence[str], key_kind: KeyKind, fields: Sequence[ComparedField]
) -> DataFrame:
    key_type: T.DataType = _KEY_DECIMAL if key_kind is KeyKind.NUMBER else T.StringType()
    columns = [
        T.StructField("key", key_type),
        T.StructField("status", T.StringType()),
        T.StructField("pk", T.StringType()),
        T.StructField("sk", T.StringType()),
    ]
    columns += [
        T.StructField(f"f_{i}", T.LongType() if f.value == "epoch_us" else T.StringType())
        for i, f in enumerate(fields)
    ]
    # COPY's CSV: an unquoted empty field is NULL, a quoted "" an empty string.
    return (
        spark.read.schema(T.StructType(columns))
        .option("header", False)
        .option("nullValue", "")
        .option("emptyValue", "")
        .option("mode", "FAILFAST")
        .csv(list(paths))
    )


def compare(
    spark: SparkSession,
    mapping: TableMapping,
    export_paths: Sequence[str],
    snapshot_paths: Sequence[str],
    window: Window,
    fields: Sequence[ComparedField],
) -> Comparison:
    out = Comparison()
    dyn = read_export(spark, mapping, export_paths, fields).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        totals = dyn.agg(
            F.count(F.lit(1)).alias("lines"), F.sum(F.col("corrupt").cast("long")).alias("corrupt")
        ).first()
        assert totals is not None
        if totals["corrupt"]:
            raise ExportError(
                export_paths[0].rsplit("/data/", 1)[0],
                f"a data file cannot be read: {totals['corrupt']} line(s) are not JSON",
            )
        out.export_items = int(totals["lines"])
        lo, hi = mapping.sort_key_bounds(window.start, window.end)
        in_range = F.col("sk") < F.lit(hi)
        if window.start != BEGINNING:
            in_range = in_range & (F.col("sk") >= F.lit(lo))
        slow_rows = (
            dyn.filter(F.col("slow") & (F.col("sk").isNull() | in_range))
            .select("pk", "sk", "key_raw", "status_raw")
            .collect()
        )
        slow = decode_slow(mapping, [tuple(r) for r in slow_rows])
        out.tally.findings += slow.invalid
        names = [f"f_{i}" for i in range(len(fields))]
        fast = dyn.filter(~F.col("slow") & in_range).select("key", "status", "pk", "sk", *names)
        d = fast
        if slow.readable:
            key_type = fast.schema["key"].dataType
            readable = spark.createDataFrame(
                [(_as_key(k, mapping), s, p, q) for k, s, p, q in slow.readable],
                T.StructType(
                    [
                        T.StructField("key", key_type),
                        T.StructField("status", T.StringType()),
                        T.StructField("pk", T.StringType()),
                        T.StructField("sk", T.StringType()),
                    ]
                ),
            )
            for name, field in zip(names, fast.schema.fields[4:], strict=True):
                readable = readable.withColumn(name, F.lit(None).cast(field.dataType))
            d = fast.unionByName(readable)
        sql = read_snapshot(spark, snapshot_paths, mapping.key_kind or KeyKind.TEXT, fields)
        s = sql.filter(F.col("pk").isNotNull() & F.col("sk").isNotNull())
        out.keyless = sql.count() - s.count()

        sa = _copies(s, names).select(*(F.col(c).alias(f"s_{c}") for c in [*s.columns, "copy"]))
        da = _copies(d, names).select(*(F.col(c).alias(f"d_{c}") for c in [*d.columns, "copy"]))
        joined = sa.join(
            da,
            (F.col("s_key") == F.col("d_key"))
            & (F.col("s_pk") == F.col("d_pk"))
            & (F.col("s_copy") == F.col("d_copy")),
            "full_outer",
        )
        differs = (
            F.col("s_key").isNull()
            | F.col("d_key").isNull()
            | ~F.col("s_status").eqNullSafe(F.col("d_status"))
        )
        for i, f in enumerate(fields):
            differs = differs | _field_differs(i, f)
        diff = joined.filter(differs).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            abandoned = sorted(mapping.status_values.abandoned)
            counts = diff.agg(
                F.sum((F.col("d_key").isNull() & F.col("s_status").isin(abandoned)).cast("long")),
                F.sum((F.col("s_key").isNull() & F.col("d_status").isin(abandoned)).cast("long")),
                F.sum(F.col("d_key").isNull().cast("long")),
            ).first()
            assert counts is not None
            agreed_sql, agreed_dynamo, unmatched_sql = (int(v or 0) for v in counts)
            JoinCounts(
                s.count(), d.count(), agreed_sql, agreed_dynamo, unmatched_sql, len(slow.invalid)
            ).count_into(out.tally)
            for row in diff.select(
                "s_key", "s_status", "s_pk", "s_sk", "d_key", "d_status", "d_pk", "d_sk"
            ).collect():
                found = key_finding(DiffRow(*row), slow.unreadable, mapping.status_values.abandoned)
                if found is not None:
                    out.tally.findings.append(found)
            for i, f in enumerate(fields):
                both = F.col("s_key").isNotNull() & F.col("d_key").isNotNull()
                for key, pk, sk, left, right in (
                    diff.filter(both & _field_differs(i, f))
                    .select("s_key", "s_pk", "s_sk", f"s_f_{i}", f"d_f_{i}")
                    .collect()
                ):
                    out.tally.findings.append(
                        field_finding(key, pk, sk, f.attribute, f.value, left, right)
                    )
        finally:
            diff.unpersist()
    finally:
        dyn.unpersist()
    return out


def _copies(frame: DataFrame, names: Sequence[str]) -> DataFrame:
    """Each row numbered among the rows of its key (`copy`), so that the join pairs a key's
    copies one to one: a multiset difference, as the DuckDB path's."""
    order = [F.col(c).asc_nulls_last() for c in ("status", "sk", *names)]
    copy = F.row_number().over(Rows.partitionBy("pk", "key").orderBy(*order))
    return frame.withColumn("copy", copy)


def _as_key(key: Any, mapping: TableMapping) -> Any:
    from decimal import Decimal

    return Decimal(key) if mapping.key_kind is KeyKind.NUMBER else key


def _field_differs(index: int, f: ComparedField) -> Column:
    left, right = F.col(f"s_f_{index}"), F.col(f"d_f_{index}")
    if f.value == "epoch_us":
        return (left.isNull() != right.isNull()) | (F.abs(left - right) > F.lit(f.tolerance_us))
    return ~left.eqNullSafe(right)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="spark_job.py", description="verify --from-export, as a Spark job"
    )
    parser.add_argument("--config", type=Path, default=None, help="config.toml (as the CLI's)")
    parser.add_argument("--export", required=True, help="the export's folder (local, hdfs:, s3a:)")
    parser.add_argument("--snapshot", required=True, help="the folder --snapshot-to wrote")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args(argv)
    from monitor.report import render_json, render_text

    try:
        settings = load_settings(args.config)
        spark = SparkSession.builder.appName("dualwrite-monitor verify").getOrCreate()
        try:
            report = run_job(spark, settings, args.export, args.snapshot, strict=args.strict)
        finally:
            spark.stop()
    except MonitorError as exc:
        print(f"dualwrite-monitor: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    if args.format == "json":
        print(render_json([report], combined=False))  # noqa: T201
    else:
        print(render_text(report, colour=sys.stdout.isatty()))  # noqa: T201
    return EXIT_OK if report.ok else EXIT_INCONSISTENT


if __name__ == "__main__":
    sys.exit(main())

"""Preflight judgements (CONTRACT §4b), pure: what the stores answered in, pass/fail out.

The seed's phase-1 checklist, each item decided from real answers (DescribeTable, the catalog,
measured round trips), with its reason and figures. An advisory item that fails is shown but
does not refuse the `dual-write` gate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    passed: bool
    required: bool
    detail: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "required": self.required,
            "detail": self.detail,
            "figures": dict(self.figures),
        }


def passed(items: Sequence[Item]) -> bool:
    return all(i.passed for i in items if i.required)


@dataclass(frozen=True, slots=True)
class WantedIndex:
    """A GSI the mapping needs: its name, keys, and attributes it must project."""

    name: str
    partition_key: str
    sort_key: str | None
    projects: tuple[str, ...] = ()


def judge_table(
    table: Mapping[str, Any], partition_key: str, sort_key: str, wanted: Sequence[WantedIndex]
) -> Item:
    """DescribeTable's `Table`: ACTIVE, the key schema and every GSI the mapping needs."""
    problems: list[str] = []
    status = table.get("TableStatus")
    if status != "ACTIVE":
        problems.append(f"status is {status}, not ACTIVE")
    keys = _key_schema(table.get("KeySchema", ()))
    if keys != (partition_key, sort_key):
        problems.append(f"key schema is {keys}, the mapping needs ({partition_key}, {sort_key})")
    present = {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes", ())}
    for index in wanted:
        gsi = present.get(index.name)
        if gsi is None:
            problems.append(f"index {index.name} is missing")
            continue
        got = _key_schema(gsi.get("KeySchema", ()))
        if got != (index.partition_key, index.sort_key):
            problems.append(
                f"index {index.name} has keys {got}, needs ({index.partition_key}, {index.sort_key})"
            )
        if gsi.get("IndexStatus", "ACTIVE") != "ACTIVE":
            problems.append(f"index {index.name} is {gsi.get('IndexStatus')}")
        missing = _unprojected(gsi.get("Projection", {}), index.projects)
        if missing:
            problems.append(f"index {index.name} does not project {', '.join(missing)}")
    figures = {"indexes": sorted(present), "item_count": table.get("ItemCount")}
    if problems:
        return Item("dynamodb_table", False, True, "; ".join(problems), figures)
    return Item(
        "dynamodb_table",
        True,
        True,
        f"ACTIVE, keys ({partition_key}, {sort_key}), {len(wanted)} needed indexes present",
        figures,
    )


def _key_schema(schema: Sequence[Mapping[str, str]]) -> tuple[str | None, str | None]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
    return by_type.get("HASH"), by_type.get("RANGE")


def _unprojected(projection: Mapping[str, Any], wanted: Sequence[str]) -> list[str]:
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return []
    have = set(projection.get("NonKeyAttributes", ())) if kind == "INCLUDE" else set()
    return [a for a in wanted if a not in have]


def judge_sql_table(
    table: str,
    columns: set[str],
    needed: Sequence[str],
    indexes: set[str],
    wanted_indexes: Sequence[str],
) -> list[Item]:
    """The table with every column the mapping reads (required), and the indexes the checks
    want (advisory: without them the checks are slower, not wrong)."""
    if not columns:
        return [Item("postgres_table", False, True, f"table {table} does not exist")]
    missing = [c for c in needed if c not in columns]
    table_item = (
        Item("postgres_table", False, True, f"{table} lacks columns {', '.join(missing)}")
        if missing
        else Item("postgres_table", True, True, f"{table} has the {len(needed)} mapped columns")
    )
    absent = [i for i in wanted_indexes if i not in indexes]
    index_item = Item(
        "postgres_indexes",
        not absent,
        False,
        f"missing {', '.join(absent)} (`dualwrite-monitor setup` prints the DDL)"
        if absent
        else "every index the checks use exists",
        {"present": sorted(i for i in wanted_indexes if i in indexes)},
    )
    return [table_item, index_item]


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def judge_latency(store: str, seconds: Sequence[float], budget_ms: float) -> Item:
    p50 = percentile(seconds, 0.5) * 1000
    p99 = percentile(seconds, 0.99) * 1000
    figures = {"round_trips": len(seconds), "p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}
    ok = p99 <= budget_ms
    detail = f"p50 {p50:.1f} ms, p99 {p99:.1f} ms" + (
        "" if ok else f": over the {budget_ms:g} ms budget"
    )
    return Item(f"latency_{store}", ok, False, detail, figures)


def judge_capacity(
    table: Mapping[str, Any], writes_per_second: float, monitor_reads_per_second: float
) -> Item:
    """On-demand passes; provisioned capacity must cover the measured write rate (the dual
    writer writes each record twice: put, then the commit mark) and the monitor's read budget."""
    mode = table.get("BillingModeSummary", {}).get("BillingMode")
    throughput = table.get("ProvisionedThroughput", {})
    wcu = float(throughput.get("WriteCapacityUnits") or 0)
    rcu = float(throughput.get("ReadCapacityUnits") or 0)
    needed_wcu = 2 * writes_per_second
    figures = {
        "billing_mode": mode or ("PROVISIONED" if wcu else "PAY_PER_REQUEST"),
        "sql_writes_per_second_last_hour": round(writes_per_second, 3),
        "write_units_needed": round(needed_wcu, 3),
        "monitor_read_units_per_second": monitor_reads_per_second,
    }
    if mode == "PAY_PER_REQUEST" or (mode is None and not wcu and not rcu):
        return Item("capacity", True, True, "on-demand capacity", figures)
    figures |= {"write_capacity_units": wcu, "read_capacity_units": rcu}
    problems = []
    if wcu < needed_wcu:
        problems.append(f"{wcu:g} WCU < {needed_wcu:.1f} needed for the last hour's writes")
    if rcu < monitor_reads_per_second:
        problems.append(f"{rcu:g} RCU < the monitor's read budget {monitor_reads_per_second:g}")
    if problems:
        return Item("capacity", False, True, "; ".join(problems), figures)
    return Item("capacity", True, True, "provisioned capacity covers writes and reads", figures)


def judge_backups(
    pitr: str | None, archive_mode: str, archiver: Mapping[str, Any], required: bool
) -> Item:
    problems = []
    if pitr != "ENABLED":
        problems.append(f"DynamoDB point-in-time recovery is {pitr or 'unknown'}")
    if archive_mode not in ("on", "always"):
        problems.append(f"PostgreSQL archive_mode is {archive_mode}")
    else:
        failed, archived = archiver.get("last_failed_time"), archiver.get("last_archived_time")
        if failed is not None and (archived is None or failed > archived):
            problems.append("PostgreSQL WAL archiving is failing (the last attempt failed)")
    figures = {"dynamodb_pitr": pitr, "postgres_archive_mode": archive_mode} | {
        k: (str(v) if v is not None else None) for k, v in archiver.items()
    }
    if problems:
        return Item("backups", False, required, "; ".join(problems), figures)
    return Item("backups", True, required, "PITR enabled and WAL archived", figures)

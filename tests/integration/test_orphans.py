"""`check orphans` (and `check all`) against a real PostgreSQL and a real DynamoDB-API server."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from monitor.checks.orphans import run_orphans
from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.cli import main
from monitor.config import Settings, load_settings
from monitor.model import CheckReport, Window
from monitor.setup import dynamodb_table_definition, run_setup
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.postgres import PostgresStore
from monitor.writer.bulk import copy_rows, put_items
from monitor.writer.items import DEFAULT_COLUMNS
from tests.backends import Backend
from tests.conftest import make_settings
from tests.integration.scenario import BASE_TIME, dynamo_client, make_rows, write_config
from tests.wire_items import wire_item

WINDOW = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T11:00:00Z"]
NO_INDEX = "[mapping]\npending_index = false\n"


# --- seeding -----------------------------------------------------------------------------------


def store(
    settings: Settings,
    sql_rows: list[dict[str, Any]],
    items: list[dict[str, Any]],
    *,
    items_per_request: int = 25,
) -> None:
    """Exactly these rows in PostgreSQL and these items in DynamoDB (tables made by `setup`)."""

    async def go() -> None:
        await run_setup(settings)
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            await copy_rows(conn, settings.mapping.sql_table, DEFAULT_COLUMNS, sql_rows)
        finally:
            await conn.close()
        async with dynamo_client(settings) as client:
            for start in range(0, len(items), items_per_request):
                chunk = items[start : start + items_per_request]
                await put_items(client, settings.dynamodb.table, chunk)

    anyio.run(go)


def item_with_status(settings: Settings, row: Mapping[str, Any], status: str) -> dict[str, Any]:
    """The item the dual writer would hold for `row` with this write status (GSI3 while pending)."""
    return wire_item({**row, "write_status": status}, settings.table_mapping())


def one_of_each(backend: Backend) -> None:
    """200 healthy records, then one record per case, keys 1001.. (see EXPECTED)."""
    noise = make_rows(200)
    cases = {
        r["log_id"]: r for r in make_rows(7, first_key=1001, start=BASE_TIME + timedelta(minutes=2))
    }
    plan = {  # key: (SQL status or None, DynamoDB status or None)
        1001: ("Pending", None),
        1002: ("Pending", "Committed"),
        1003: ("Pending", "Pending"),
        1004: (None, "Pending"),
        1005: ("Committed", "Pending"),
        1006: ("Committed", None),  # committed and missing: for `counts`, not orphans
        1007: ("Failed", "Failed"),
    }
    settings = backend.settings
    sql_rows = list(noise)
    items = [item_with_status(settings, r, "Committed") for r in noise]
    for key, (sql_status, dynamo_status) in plan.items():
        if sql_status is not None:
            sql_rows.append({**cases[key], "write_status": sql_status})
        if dynamo_status is not None:
            items.append(item_with_status(settings, cases[key], dynamo_status))
    backend.store(sql_rows, items)


EXPECTED = {
    (1001, "missing_in_dynamodb", "Pending", None),
    (1002, "status_divergence", "Pending", "Committed"),
    (1003, "stuck_pending", "Pending", "Pending"),
    (1004, "missing_in_sql", None, "Pending"),
    (1005, "status_divergence", "Committed", "Pending"),
}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    document = json.loads(out) if out.strip().startswith("{") else out
    return code, document, err


def check_orphans(
    capsys: pytest.CaptureFixture[str], config: Path, *extra: str
) -> tuple[int, Any, str]:
    return run_cli(capsys, "--config", str(config), "check", "orphans", "--format", "json", *extra)


def seen(report: Mapping[str, Any]) -> set[tuple[Any, str, Any, Any]]:
    return {
        (f["key"]["log_id"], f["kind"], f["sql_status"], f["dynamodb_status"])
        for f in report["findings"]
    }


# --- each finding kind, once, on every read path -------------------------------------------------


@pytest.mark.parametrize("path", ["index", "configured_off", "index_missing"])
def test_each_kind_is_found_exactly_once(
    path: str,
    backend: Backend,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = NO_INDEX if path == "configured_off" else ""
    settings = backend.reconfigure(**({"mapping": {"pending_index": False}} if extra else {}))
    if path == "index_missing":
        backend.without_pending_index()
    one_of_each(backend)

    code, report, err = check_orphans(
        capsys, write_config(tmp_path / "c.toml", settings, extra), *WINDOW
    )

    assert code == 1, err
    assert report["check"] == "orphans" and report["ok"] is False
    assert len(report["findings"]) == len(EXPECTED)  # no record twice
    assert seen(report) == EXPECTED
    for finding in report["findings"]:
        assert finding["pk"] == f"LOG#{finding['pk'].split('#')[1]}#2026-01-01"
        assert finding["sk"].endswith(f"#{finding['key']['log_id']}")
    summary = report["summary"]
    assert summary["missing_in_dynamodb"] == 1 and summary["missing_in_sql"] == 1
    assert summary["status_divergence"] == 2 and summary["stuck_pending"] == 1
    assert summary["orphans"] == 5 and summary["invalid_data"] == 0
    # 206 SQL rows in the window + 1 DynamoDB-only record.
    assert summary["records"] == 207
    assert summary["orphan_ratio"] == round(5 / 207, 9)
    assert summary["write_success"] == round(
        201 / 207, 9
    )  # 202 Committed in SQL, 1005 is not in DynamoDB
    assert summary["transaction_completion"] == round(
        202 / 207, 9
    )  # 203 final in SQL, 1005 pending in DynamoDB
    assert summary["sql_pending"] == 3 and summary["dynamodb_pending"] == 3
    if path == "index":
        assert summary["pending_source"] == "index PendingByDate"
        assert "warnings" not in report
    else:
        assert summary["pending_source"] == "base table"
        expected = "no pending index is configured" if extra else "'PendingByDate' does not exist"
        assert any(expected in w and "base table" in w for w in report["warnings"])


def test_in_flight_records_are_never_judged(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    now = datetime.now(UTC)
    young = make_rows(1, start=now - timedelta(seconds=10), first_key=1, status="Pending")
    young_item_only = make_rows(1, start=now - timedelta(seconds=10), first_key=2, status="Pending")
    settled = make_rows(1, start=now - timedelta(minutes=5), first_key=3, status="Pending")
    # All three have a counterpart missing; only the one older than grace is an orphan.
    backend.store(young + settled, [item_with_status(settings, young_item_only[0], "Pending")])

    code, report, _ = check_orphans(capsys, write_config(tmp_path / "c.toml", settings))

    assert code == 1
    assert seen(report) == {(3, "missing_in_dynamodb", "Pending", None)}
    end = datetime.fromisoformat(report["window"]["end"].replace("Z", "+00:00"))
    assert end <= datetime.now(UTC) - timedelta(minutes=2)


def test_grace_is_measured_from_the_injected_now(backend: Backend) -> None:
    rows = make_rows(2, start=BASE_TIME, step=timedelta(minutes=3), status="Pending")
    backend.store(rows, [])  # 10:00 and 10:03, both without an item

    async def at(now: datetime) -> CheckReport:
        async with backend.context() as context:
            return await run_check("orphans", context, CheckRequest(now=now))

    # At 10:03:10 the 10:03 record is 10 s old: in flight. At 10:05:01 it is past grace.
    early = anyio.run(at, BASE_TIME + timedelta(minutes=3, seconds=10))
    late = anyio.run(at, BASE_TIME + timedelta(minutes=5, seconds=1))
    assert [f.key for f in early.findings] == [1]
    assert sorted(f.key for f in late.findings) == [1, 2]


# --- cost: batched reads -------------------------------------------------------------------------


class CountingClient:
    """A thin wrapper of the aiobotocore client that counts each operation it forwards."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def counted(**kwargs: Any) -> Any:
            self.calls[name] += 1
            return await method(**kwargs)

        return counted


def test_counterparts_are_read_in_batches_of_100(settings: Settings) -> None:
    n = 250
    rows = make_rows(n, status="Pending")
    # Half have a pending item (stuck), half none (missing): every row needs its counterpart.
    store(settings, rows, [item_with_status(settings, r, "Pending") for r in rows[::2]])

    async def go() -> tuple[CheckReport, Counter[str]]:
        mapping = settings.table_mapping()
        async with (
            PostgresStore.open(settings.postgres, mapping) as sql,
            DynamoStore.open(settings.dynamodb, mapping) as dynamo,
        ):
            counting = CountingClient(dynamo.client)
            dynamo.client = counting
            window = Window(BASE_TIME - timedelta(hours=1), BASE_TIME + timedelta(hours=1))
            now = BASE_TIME + timedelta(hours=2)
            return await run_orphans(settings, sql, dynamo, None, window, now), counting.calls

    report, calls = anyio.run(go)
    assert report.summary["stuck_pending"] == 125
    assert report.summary["missing_in_dynamodb"] == 125
    assert calls["batch_get_item"] == math.ceil(n / 100)
    assert calls["get_item"] == 0
    assert calls["query"] == 1  # one day of the pending index, one page
    assert calls["scan"] == 0


def test_pending_rows_use_the_partial_index(settings: Settings) -> None:
    rows = make_rows(3000, step=timedelta(milliseconds=10))
    for row in rows[::1000]:
        row["write_status"] = "Pending"
    store(settings, rows, [])

    async def go() -> tuple[str, int]:
        mapping = settings.table_mapping()
        async with PostgresStore.open(settings.postgres, mapping) as sql:
            await sql.pool.execute("ANALYZE integration_logs")
            start, end = BASE_TIME - timedelta(hours=1), BASE_TIME + timedelta(hours=1)
            query, params = sql.pending_query(start, end)
            plan = await sql.pool.fetchval("EXPLAIN (FORMAT JSON) " + query, *params)
            return str(plan), len(await sql.pending_rows(start, end))

    plan, found = anyio.run(go)
    assert found == 3
    assert "integration_logs_dwm_pending" in plan


# --- odd data ------------------------------------------------------------------------------------

TEXT_MAPPING = """
[mapping]
sql_table = "events"
key_column = "event_key"
timestamp_column = "created_at"
status_column = "state"
partition_key = "pk"
sort_key = "sk"
partition_key_template = "EVT#{created_at:%Y-%m-%d}"
sort_key_template = "{created_at:%Y-%m-%dT%H:%M:%S.%fZ}#{event_key}"
key_attribute = "EventKey"
status_attribute = "State"
status_values = { pending = "P", committed = "C", failed = "F", compensated = "X" }
pending_index = { name = "Pending", partition_key = "PPK", sort_key = "PSK", partition_key_template = "P#{created_at:%Y-%m-%d}" }
fields = []
"""


def test_unicode_text_keys(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", settings, TEXT_MAPPING)
    custom = load_settings(config, environ={})
    long_key = "é" * 200
    cases = {  # key: (SQL state, DynamoDB state)
        "ключ-1": ("P", None),
        "💥 #2 'q\"": ("P", "P"),
        "名前": (None, "P"),
        long_key: ("P", None),
        **{f"k-{i}": ("C", "C") for i in range(20)},
    }
    moment = BASE_TIME

    def item(key: Any, state: str, at: datetime) -> dict[str, Any]:
        sk = f"{at:%Y-%m-%dT%H:%M:%S.%fZ}#{key}"
        out: dict[str, Any] = {
            "pk": {"S": f"EVT#{at:%Y-%m-%d}"},
            "sk": {"S": sk},
            "EventKey": {"N": str(key)} if isinstance(key, int) else {"S": key},
            "State": {"S": state},
        }
        if state == "P":
            out |= {"PPK": {"S": f"P#{at:%Y-%m-%d}"}, "PSK": {"S": sk}}
        return out

    sql_rows, items = [], []
    for i, (key, (sql_state, dynamo_state)) in enumerate(cases.items()):
        at = moment + timedelta(seconds=i)
        if sql_state:
            sql_rows.append((key, at, sql_state))
        if dynamo_state:
            items.append(item(key, dynamo_state, at))
    items.append(item(7, "P", moment + timedelta(minutes=5)))  # a number key: wrong type

    async def go() -> None:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            await conn.execute(
                "CREATE TABLE events (event_key text PRIMARY KEY,"
                " created_at timestamptz NOT NULL, state text NOT NULL)"
            )
            await conn.copy_records_to_table(
                "events", records=sql_rows, columns=["event_key", "created_at", "state"]
            )
        finally:
            await conn.close()
        async with dynamo_client(settings) as client:
            await client.create_table(
                **dynamodb_table_definition(custom.table_mapping(), custom.dynamodb.table)
            )
            await put_items(client, custom.dynamodb.table, items)

    anyio.run(go)
    code, report, err = check_orphans(capsys, config, *WINDOW)
    assert code == 1, err
    found = {(f["key"]["event_key"], f["kind"]) for f in report["findings"]}
    assert found == {
        ("ключ-1", "missing_in_dynamodb"),
        ("💥 #2 'q\"", "stuck_pending"),
        ("名前", "missing_in_sql"),
        (long_key, "missing_in_dynamodb"),
        (7, "invalid_data"),
    }
    assert report["summary"]["pending_source"] == "index Pending"


@pytest.mark.parametrize("extra", ["", NO_INDEX])
def test_400_kb_items_do_not_crash(
    extra: str,
    database: str,
    dynamo_endpoint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(
        database, dynamo_endpoint, **({"mapping": {"pending_index": False}} if extra else {})
    )
    rows = make_rows(3, status="Pending")
    for row in rows:
        row["request_data"] = json.dumps({"blob": "x" * 380_000})
    store(
        settings,
        [rows[0], {**rows[2], "write_status": "Committed"}],
        [
            item_with_status(settings, rows[0], "Pending"),
            item_with_status(settings, rows[1], "Pending"),
            item_with_status(settings, rows[2], "Committed"),
        ],
        items_per_request=1,  # keeps each request body under aiohttp's 1 MiB warning
    )
    config = write_config(tmp_path / "c.toml", settings, extra)
    code, report, err = check_orphans(capsys, config, *WINDOW)
    assert code == 1, err
    assert seen(report) == {
        (1, "stuck_pending", "Pending", "Pending"),
        (2, "missing_in_sql", None, "Pending"),
    }
    assert "xxxx" not in json.dumps(report)


# --- the command line ----------------------------------------------------------------------------


def test_clean_window_exits_0_with_the_contract_shape(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(50)
    backend.store(rows, [item_with_status(settings, r, "Committed") for r in rows])
    code, report, _ = check_orphans(capsys, write_config(tmp_path / "c.toml", settings), *WINDOW)
    assert code == 0
    assert set(report) == {"check", "table", "window", "ok", "summary", "findings"}
    assert report["table"] == "integration_logs" and report["ok"] is True
    assert report["window"] == {"start": "2026-01-01T09:00:00Z", "end": "2026-01-01T11:00:00Z"}
    assert report["findings"] == []
    summary = report["summary"]
    assert summary["records"] == 50 and summary["orphans"] == 0
    assert (summary["orphan_ratio"], summary["write_success"]) == (0, 1)
    assert summary["transaction_completion"] == 1


LENIENT = """
[alerts.thresholds]
orphaned_records = { target = 0.01, alert_above = 50 }
write_success_rate = { target = 99.95, alert_below = 1 }
transaction_completion = { target = 99.9, alert_below = 1 }
"""


def test_thresholds_decide_and_strict_makes_any_finding_fail(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    one_of_each(backend)
    config = write_config(tmp_path / "c.toml", settings, LENIENT)
    code, report, _ = check_orphans(capsys, config, *WINDOW)
    assert code == 0 and report["ok"] is True
    assert len(report["findings"]) == 5  # listed either way
    finding = report["findings"][0]
    assert set(finding) == {"kind", "key", "pk", "sk", "sql_status", "dynamodb_status"}
    code, report, _ = check_orphans(capsys, config, *WINDOW, "--strict")
    assert code == 1 and report["ok"] is False
    # The text report names each finding's key.
    code = main(["check", "orphans", "--config", str(config), "--strict", *WINDOW])
    out = capsys.readouterr().out
    assert code == 1
    assert "INCONSISTENT" in out and "stuck_pending" in out and "log_id=1003" in out
    assert "orphan_ratio" in out


def test_missing_table_exits_3_with_a_clear_message(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", settings)
    config.write_text(config.read_text().replace('table = "IntegrationLogs"', 'table = "Nope"'))
    code, _, err = check_orphans(capsys, config, *WINDOW)
    assert code == 3
    assert err.strip() == (
        "dualwrite-monitor: DynamoDB: table 'Nope' (or an index) does not exist;"
        " for a development table run `dualwrite-monitor setup`"
    )


def test_check_all_runs_every_check_in_order(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    one_of_each(backend)
    config = str(write_config(tmp_path / "c.toml", settings))
    code, document, _ = run_cli(
        capsys, "check", "all", "--config", config, "--format", "json", *WINDOW
    )
    assert set(document) == {"checks", "ok"}
    names = [report["check"] for report in document["checks"]]
    assert names == list(REGISTRY) and names[:2] == ["orphans", "counts"]
    orphans, counts = document["checks"][0], document["checks"][1]
    assert seen(orphans) == EXPECTED
    missing = {
        (f["kind"], f["key"]["log_id"])
        for f in counts["findings"]
        if f["kind"].startswith("missing")
    }
    assert missing == {
        ("missing_in_dynamodb", 1001),
        ("missing_in_dynamodb", 1006),
        ("missing_in_sql", 1004),
    }
    assert document["ok"] is False and document["ok"] == all(r["ok"] for r in document["checks"])
    assert code == 1

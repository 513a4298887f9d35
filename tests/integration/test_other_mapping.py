"""Another team's table, monitored by editing config.toml alone: other names, a composite
partition template with monthly buckets, another status vocabulary, no pending index."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.writer.bulk import put_items
from tests.integration.scenario import dynamo_client, write_config

MAPPING = """
[mapping]
sql_table = "audit.events"
key_column = "event_id"
timestamp_column = "created_at"
status_column = "state"
partition_key = "pk"
sort_key = "sk"
partition_key_template = "EVT#{tenant}#{region}#{created_at:%Y-%m}"
sort_key_template = "TS#{created_at:%Y-%m-%dT%H:%M:%S.%f}#{event_id}"
key_attribute = "EventId"
status_attribute = "State"
status_values = { pending = "P", committed = "C", failed = "F", compensated = "X" }
pending_index = false
fields = []
"""
START = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # the window crosses a month: two buckets
TENANTS = [("acme", "eu"), ("acme", "us"), ("globex", "eu")]


def rows() -> list[tuple[int, str, str, datetime, str]]:
    return [
        (i, *TENANTS[i % 3], START + timedelta(seconds=17 * i), "C" if i % 11 else "P")
        for i in range(1, 601)
    ]


async def create_and_fill(
    settings: Settings, missing_sql: set[int], missing_dynamo: set[int]
) -> None:
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        await conn.execute(
            "CREATE SCHEMA audit; CREATE TABLE audit.events (event_id bigint PRIMARY KEY,"
            " tenant text NOT NULL, region text NOT NULL, created_at timestamptz NOT NULL,"
            " state text NOT NULL)"
        )
        await conn.copy_records_to_table(
            "events",
            schema_name="audit",
            records=[r for r in rows() if r[0] not in missing_sql],
            columns=["event_id", "tenant", "region", "created_at", "state"],
        )
    finally:
        await conn.close()
    items = []
    for event_id, tenant, region, created, state in rows():
        if event_id in missing_dynamo:
            continue
        items.append(
            {
                "pk": {"S": f"EVT#{tenant}#{region}#{created:%Y-%m}"},
                "sk": {"S": f"TS#{created:%Y-%m-%dT%H:%M:%S.%f}#{event_id}"},
                "EventId": {"N": str(event_id)},
                "State": {"S": "C" if event_id == 44 else state},
            }
        )
    async with dynamo_client(settings) as client:
        await client.create_table(
            TableName="AuditEvents",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        await put_items(client, "AuditEvents", items)


def test_another_teams_table_is_monitored_by_config_alone(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anyio.run(create_and_fill, settings, {7, 300}, {8, 9, 599})
    config = write_config(tmp_path / "c.toml", settings, MAPPING).read_text()
    config = config.replace('table = "IntegrationLogs"', 'table = "AuditEvents"')
    (tmp_path / "c.toml").write_text(config)
    code = main(
        [
            "check",
            "counts",
            "--config",
            str(tmp_path / "c.toml"),
            "--format",
            "json",
            "--since",
            "2026-03-31T21:00:00Z",
            "--until",
            "2026-04-01T02:00:00Z",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["table"] == "audit.events"
    found = {(f["kind"], f["key"]["event_id"]) for f in report["findings"]}
    assert found == {
        ("missing_in_sql", 7),
        ("missing_in_sql", 300),
        ("missing_in_dynamodb", 8),
        ("missing_in_dynamodb", 9),
        ("missing_in_dynamodb", 599),
        ("status_divergence", 44),
    }
    pks = {f["pk"] for f in report["findings"]}
    assert (
        "EVT#acme#us#2026-04" in pks
        or "EVT#globex#eu#2026-04" in pks
        or any(p.endswith("2026-04") for p in pks)
    )
    assert report["summary"]["partitions"] == 3


def test_setup_for_another_mapping_creates_only_the_monitor_schema(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", settings, MAPPING)
    assert main(["setup", "--config", str(config), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["created"] == ["schema dualwrite_monitor"]
    assert any('CREATE INDEX IF NOT EXISTS "events_dwm_slice"' in a for a in result["advice"])


def test_another_teams_mapping_that_omits_the_pending_index_runs_on_the_base_table(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Omitted, not `false`: the default model's index (templated on `log_timestamp`) must not
    be inherited; orphans falls back to the base table and says so."""
    anyio.run(create_and_fill, settings, set(), set())
    mapping = MAPPING.replace("pending_index = false\n", "").replace("fields = []\n", "")
    config = write_config(tmp_path / "c.toml", settings, mapping).read_text()
    (tmp_path / "c.toml").write_text(config.replace('"IntegrationLogs"', '"AuditEvents"'))
    window = ["--since", "2026-03-31T21:00:00Z", "--until", "2026-04-01T02:00:00Z"]
    args = ["--config", str(tmp_path / "c.toml"), "--format", "json", *window]
    code = main(["check", "orphans", *args])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    report = json.loads(out)
    assert report["summary"]["pending_source"] == "base table"
    assert any("no pending index is configured" in w for w in report["warnings"]), report
    # The pending records (state "P") are found on the base table.
    assert report["summary"]["sql_pending"] > 0

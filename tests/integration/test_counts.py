"""`check counts` end to end: the CLI against a real PostgreSQL and a real DynamoDB-API server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.checks import partitions
from monitor.cli import main
from monitor.config import Settings
from tests.backends import Backend
from tests.integration.scenario import BASE_TIME, make_rows, seed, write_config

WINDOW = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T11:00:00Z"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    try:
        document = json.loads(out) if out.strip().startswith("{") else out
    except json.JSONDecodeError:
        document = out
    return code, document, err


def check_counts(
    capsys: pytest.CaptureFixture[str], config: Path, *extra: str
) -> tuple[int, Any, str]:
    return run_cli(capsys, "--config", str(config), "check", "counts", "--format", "json", *extra)


def keys_of(report: dict[str, Any], kind: str) -> set[int]:
    return {f["key"]["log_id"] for f in report["findings"] if f["kind"] == kind}


def test_identical_stores_are_consistent(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    backend.seed(make_rows(600))
    code, report, _ = check_counts(capsys, write_config(tmp_path / "c.toml", settings), *WINDOW)
    assert code == 0
    assert report["ok"] is True
    assert report["findings"] == []
    summary = report["summary"]
    assert summary["sql_count"] == summary["dynamodb_count"] == 600
    assert summary["variance_percent"] == 0
    assert summary["consistency"] == 1.0
    assert report["window"] == {"start": "2026-01-01T09:00:00Z", "end": "2026-01-01T11:00:00Z"}


def test_every_missing_key_is_named_on_both_sides(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(900)
    backend.seed(rows, drop_from_sql={5, 300, 899}, drop_from_dynamodb={1, 2, 450, 777})
    config = write_config(tmp_path / "c.toml", settings, "[checks.counts]\nslice_records = 100\n")
    code, report, _ = check_counts(capsys, config, *WINDOW)
    assert code == 1
    assert keys_of(report, "missing_in_dynamodb") == {1, 2, 450, 777}
    assert keys_of(report, "missing_in_sql") == {5, 300, 899}
    summary = report["summary"]
    assert (summary["sql_count"], summary["dynamodb_count"]) == (897, 896)
    assert summary["missing_in_dynamodb"] == 4 and summary["missing_in_sql"] == 3
    assert summary["slices"] > 3  # the window really was cut into slices
    by_key = {f["key"]["log_id"]: f for f in report["findings"]}
    row = rows[449]  # log_id 450
    assert by_key[450]["pk"] == f"LOG#{row['service_name']}#2026-01-01"
    assert by_key[450]["sk"].endswith("#450") and by_key[450]["sql_status"] == "Committed"
    assert by_key[300]["sk"] is not None and by_key[300]["sk"].endswith("#300")
    assert by_key[300]["dynamodb_status"] == "Committed" and by_key[300]["sql_status"] is None


def test_status_divergence_is_reported(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    backend.seed(make_rows(50), item_overrides={7: {"WriteStatus": {"S": "Pending"}}})
    code, report, _ = check_counts(capsys, write_config(tmp_path / "c.toml", settings), *WINDOW)
    divergent = [f for f in report["findings"] if f["kind"] == "status_divergence"]
    assert [(f["key"], f["sql_status"], f["dynamodb_status"]) for f in divergent] == [
        ({"log_id": 7}, "Committed", "Pending")
    ]
    assert report["summary"]["status_divergence"] == 1
    assert code == 0  # counts agree; status divergence is listed, --strict makes it fail
    code, report, _ = check_counts(
        capsys, write_config(tmp_path / "c.toml", settings), *WINDOW, "--strict"
    )
    assert code == 1 and report["ok"] is False


def test_an_item_repeating_a_key_is_missing_in_sql_under_its_own_sort_key(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The key is an ordinary attribute in DynamoDB: a second item can carry it (a retried write
    # that rendered another timestamp). It has no SQL row left to match: missing_in_sql.
    settings = backend.settings
    mapping = settings.table_mapping()
    rows = make_rows(50)
    backend.seed(rows)
    twin = dict(rows[20], log_id=7)  # row 21's timestamp, record 7's key
    backend.put_items(
        [
            {
                "PK": {"S": mapping.partition_template.render(twin)},
                "SK": {"S": mapping.sort_template.render(twin)},
                "LogId": {"N": "7"},
                "WriteStatus": {"S": "Committed"},
            }
        ]
    )
    code, report, _ = check_counts(capsys, write_config(tmp_path / "c.toml", settings), *WINDOW)
    assert code == 1
    assert [(f["kind"], f["key"], f["sk"]) for f in report["findings"]] == [
        ("missing_in_sql", {"log_id": 7}, mapping.sort_template.render(twin))
    ]
    summary = report["summary"]
    assert (summary["sql_count"], summary["dynamodb_count"]) == (50, 51)


def test_records_inside_settle_are_not_judged(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    now = datetime.now(UTC)
    settled = make_rows(20, start=now - timedelta(minutes=8), step=timedelta(seconds=1))
    fresh = make_rows(
        20, start=now - timedelta(seconds=60), step=timedelta(seconds=1), first_key=100
    )
    # The young records exist only in PostgreSQL: in flight, so not a finding yet.
    backend.seed(settled + fresh, drop_from_dynamodb={r["log_id"] for r in fresh})
    code, report, _ = check_counts(capsys, write_config(tmp_path / "c.toml", settings))
    assert code == 0, report
    assert report["summary"]["sql_count"] == 20
    assert report["findings"] == []


def test_until_after_the_settled_edge_is_clamped(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    now = datetime.now(UTC)
    # Recent records, and a window of hours, not months: the clamp is the same, the reads few.
    backend.seed(make_rows(10, start=now - timedelta(hours=2)))
    since = (now - timedelta(hours=3)).isoformat()
    future = (now + timedelta(hours=1)).isoformat()
    config = write_config(tmp_path / "c.toml", settings)
    code, report, _ = check_counts(capsys, config, "--since", since, "--until", future)
    assert code == 0
    assert report["summary"]["sql_count"] == report["summary"]["dynamodb_count"] == 10
    assert report["window"]["clamped"] is True
    end = datetime.fromisoformat(report["window"]["end"].replace("Z", "+00:00"))
    assert end <= datetime.now(UTC) - timedelta(minutes=2)


def test_partition_only_in_dynamodb_is_found_by_discovery(
    backend: Backend,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two Scan segments: a pass of this small table takes a run or two, not one per segment.
    monkeypatch.setattr(partitions, "SEGMENTS", 2)
    settings = backend.settings
    rows = make_rows(30)
    ghost = make_rows(3, first_key=1000, start=BASE_TIME + timedelta(minutes=1))
    for row in ghost:
        row["service_name"] = "RetiredService"
    backend.seed(rows + ghost, drop_from_sql={r["log_id"] for r in ghost})
    config = write_config(tmp_path / "c.toml", settings)
    # Discovery takes a share of each run's reads beside the check (here as much as the check
    # reads itself), so even this small table may need a few runs for its first pass.
    config.write_text(
        config.read_text().replace("[dynamodb]\n", "[dynamodb]\ndiscovery_share = 1.0\n")
    )
    for _ in range(10):
        code, report, _ = check_counts(capsys, config, *WINDOW)
        if report["summary"]["discovery_last_run"] is not None:
            break
    else:
        pytest.fail("the first discovery pass never completed")
    assert code == 1
    assert keys_of(report, "missing_in_sql") == {1000, 1001, 1002}


def test_bigint_keys_survive_exactly(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    big = 2**53 + 1
    rows = make_rows(3, first_key=big)
    backend.seed(rows, drop_from_dynamodb={big + 1})
    code, report, _ = check_counts(capsys, write_config(tmp_path / "c.toml", settings), *WINDOW)
    assert code == 1
    assert keys_of(report, "missing_in_dynamodb") == {big + 1}


def test_text_report_is_aligned_and_names_keys(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    backend.seed(make_rows(40), drop_from_dynamodb={12})
    code = main(
        ["check", "counts", "--config", str(write_config(tmp_path / "c.toml", settings)), *WINDOW]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "INCONSISTENT" in out and "missing_in_dynamodb" in out and "log_id=12" in out


def test_setup_twice_changes_nothing(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "c.toml", settings))
    code, first, _ = run_cli(capsys, "setup", "--config", config, "--format", "json")
    assert code == 0
    assert "table integration_logs" in first["created"]
    assert "DynamoDB table IntegrationLogs" in first["created"]
    code, second, _ = run_cli(capsys, "--config", config, "--format", "json", "setup")
    assert code == 0
    assert second["created"] == []
    assert set(second["existing"]) == set(first["created"])


def test_postgres_down_exits_3_with_a_clear_message(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    write_config(config, settings)
    text = config.read_text().replace(
        settings.postgres.dsn.get_secret_value(), "postgresql://postgres@127.0.0.1:1/x"
    )
    config.write_text(text)
    code, _, err = check_counts(capsys, config, *WINDOW)
    assert code == 3
    assert err.startswith("dualwrite-monitor: PostgreSQL unavailable")
    assert "Traceback" not in err


def test_dynamodb_down_exits_3_with_a_clear_message(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(5))
    config = tmp_path / "c.toml"
    write_config(config, settings)
    config.write_text(
        config.read_text().replace(settings.dynamodb.endpoint_url, "http://127.0.0.1:1")
    )
    code, _, err = check_counts(capsys, config, *WINDOW)
    assert code == 3
    assert "DynamoDB unavailable" in err and "127.0.0.1:1" in err
    assert "Traceback" not in err


def test_an_item_with_a_text_key_is_invalid_data_and_the_rest_reconciles(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Item 5 stores its numeric key as text, in a partition whose other keys are numbers.
    rows = make_rows(60)
    seed(settings, rows, drop_from_dynamodb={9}, item_overrides={5: {"LogId": {"S": "5"}}})
    config = write_config(tmp_path / "c.toml", settings)
    code, report, err = check_counts(capsys, config, *WINDOW)
    assert code in (0, 1), err
    invalid = [f for f in report["findings"] if f["kind"] == "invalid_data"]
    assert [(f["key"], f["field"]) for f in invalid] == [({"log_id": "5"}, "LogId")]
    assert invalid[0]["sk"].endswith("#5") and "S (text)" in invalid[0]["detail"]
    # Everything else is reconciled exactly; item 5 is reported once, not also as missing.
    assert keys_of(report, "missing_in_dynamodb") == {9}
    assert keys_of(report, "missing_in_sql") == set()
    assert report["summary"]["sql_count"] == 60
    assert report["summary"]["invalid_data"] == 1
    # `check all` still reports every check.
    code, everything, err = run_cli(
        capsys, "--config", str(config), "check", "all", "--format", "json", *WINDOW
    )
    assert code in (0, 1), err
    assert [r["check"] for r in everything["checks"]] == ["orphans", "counts", "quality", "sample"]

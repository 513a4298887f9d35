"""`check quality` on the real stores: wrong types, broken GSI attributes and rule violations are
each found once, on the right record, and the window is graded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.cli import main
from monitor.config import Settings
from tests.backends import Backend
from tests.integration.scenario import make_rows, write_config

WINDOW_ARGS = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T12:00:00Z"]


def check_quality(
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    tmp_path: Path,
    extra: str = "",
    *args: str,
    report: bool = True,
) -> tuple[int, dict[str, Any], str]:
    """Run the check; with `report`, a run that printed no JSON fails here, showing stderr."""
    config = write_config(tmp_path / "c.toml", settings, extra)
    code = main(
        ["--config", str(config), "check", "quality", "--format", "json", *WINDOW_ARGS, *args]
    )
    out, err = capsys.readouterr()
    if not out.strip():
        if report:
            pytest.fail(f"check quality printed no report (exit {code}); stderr:\n{err}")
        return code, {}, err
    return code, json.loads(out), err


def found(report: Mapping[str, Any]) -> set[tuple[str, int, str | None]]:
    return {
        (f["kind"], f["key"]["log_id"], f.get("field") or f.get("rule")) for f in report["findings"]
    }


def test_clean_data_is_excellent(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    backend.seed(make_rows(70))
    code, report, _ = check_quality(capsys, settings, tmp_path)
    summary = report["summary"]
    assert report["findings"] == [], report["findings"][:3]
    assert code == 0 and report["check"] == "quality"
    assert summary["grade"] == "Excellent" and summary["sampled"] == 70
    assert summary["violations_by_rule"] == {
        "errors_have_message": 0,
        "error_logs_are_failures": 0,
        "processing_time_not_negative": 0,
    }
    assert summary["indexes_checked"] == ["ByApplication", "ErrorsByDate", "PendingByDate"]
    assert "warnings" not in report


def test_broken_index_attributes_are_found(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(200)
    rows[29]["write_status"] = "Pending"  # log_id 30: pending, but its GSI3 attributes go
    rows[30]["write_status"] = "Pending"  # log_id 31: pending and indexed: fine
    backend.seed(
        rows,
        item_overrides={
            3: {"GSI1PK": {"S": "APP#APP-9999"}},  # the wrong application
            4: {"GSI1SK": {"S": "2020-01-01T00:00:00.000000Z#4"}},
            10: {"GSI2PK": {"S": "ERR#2026-01-01"}, "GSI2SK": {"S": "x"}},  # a success in errors
            12: {"GSI3PK": {"S": "PENDING#2026-01-01"}},  # committed, still in the pending index
        },
    )
    # log_id 8 failed (i % 7 == 0) but is missing from the errors index.
    backend.remove_attributes(rows, {8: ["GSI2PK", "GSI2SK"], 30: ["GSI3PK", "GSI3SK"]})
    code, report, _ = check_quality(capsys, settings, tmp_path)
    assert found(report) == {
        ("index_integrity", 3, "GSI1PK"),
        ("index_integrity", 4, "GSI1SK"),
        ("index_integrity", 8, "GSI2PK"),
        ("index_integrity", 8, "GSI2SK"),
        ("index_integrity", 10, "GSI2PK"),
        ("index_integrity", 10, "GSI2SK"),
        ("index_integrity", 12, "GSI3PK"),
        ("index_integrity", 30, "GSI3PK"),
        ("index_integrity", 30, "GSI3SK"),
    }
    details = {(f["key"]["log_id"], f["field"]): f["detail"] for f in report["findings"]}
    assert details[(3, "GSI1PK")] == "differs from APP#{application_id} built from the SQL row"
    assert "APP-9999" not in json.dumps(report)
    assert details[(8, "GSI2PK")].startswith("missing: ErrorsByDate should hold the item")
    assert details[(10, "GSI2PK")].startswith("present, but the item does not belong")
    assert (
        details[(30, "GSI3PK")] == "missing: PendingByDate should hold the item (status is pending)"
    )
    summary = report["summary"]
    assert summary["index_integrity"] == 9 and summary["records_with_findings"] == 6
    # 194 of 200 clean (97 %): Fair, below the default min_grade Good.
    assert summary["grade"] == "Fair" and code == 1 and report["ok"] is False


def test_wrong_types_are_invalid_data(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(150)
    rows[4]["response_data"] = '{"score": '  # log_id 5: bad JSON in the system of record
    backend.seed(
        rows,
        item_overrides={
            2: {"IsSuccess": {"S": "true"}},
            3: {"LogTimestamp": {"S": "yesterday"}},
            6: {"ProcessingTimeMs": {"S": "27"}},
            7: {"LogId": {"N": "9999"}},  # the SK embeds 7
            9: {"RequestData": {"S": "{oops"}},
        },
    )
    code, report, _ = check_quality(capsys, settings, tmp_path)
    assert found(report) == {
        ("invalid_data", 2, "IsSuccess"),
        ("invalid_data", 3, "LogTimestamp"),
        ("invalid_data", 5, "ResponseData"),  # twice: see below
        ("invalid_data", 6, "ProcessingTimeMs"),
        ("invalid_data", 7, "LogId"),
        ("invalid_data", 9, "RequestData"),
    }
    details = {(f["key"]["log_id"], f["field"]): f["detail"] for f in report["findings"]}
    assert details[(2, "IsSuccess")] == "dynamodb type S, expected BOOL (its column holds boolean)"
    assert details[(3, "LogTimestamp")] == "dynamodb value is not an ISO-8601 timestamp"
    assert details[(6, "ProcessingTimeMs")] == "dynamodb type S, expected N (a number field)"
    assert details[(7, "LogId")] == "SK embeds a different key than LogId"
    assert details[(9, "RequestData")].startswith("dynamodb value is not valid JSON")
    # The SQL side's bad JSON is found once, on the SQL value; DynamoDB holds the same text.
    response = [f for f in report["findings"] if f["field"] == "ResponseData"]
    assert [f["detail"][:27] for f in response] == [
        "sql value is not valid JSON",
        "dynamodb value is not valid",
    ]
    assert report["summary"]["invalid_data"] == 7


def test_rule_violations_name_the_rule(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(100)
    rows[7]["error_message"] = None  # log_id 8 failed without a message
    rows[8]["log_type"] = "Error"  # log_id 9: an Error log that says success
    rows[9]["processing_time_ms"] = -5  # log_id 10
    rows[10]["processing_time_ms"] = None  # log_id 11: unknown passes, like a CHECK
    backend.seed(rows)
    code, report, _ = check_quality(capsys, settings, tmp_path)
    assert found(report) == {
        ("rule_violation", 8, "errors_have_message"),
        ("rule_violation", 9, "error_logs_are_failures"),
        ("rule_violation", 10, "processing_time_not_negative"),
    }
    violation = next(f for f in report["findings"] if f["key"]["log_id"] == 8)
    assert violation["rule"] == "errors_have_message"
    assert violation["detail"] == (
        "errors_have_message: `error_message is not null` is false where `is_success = false`"
    )
    assert report["summary"]["violations_by_rule"] == {
        "errors_have_message": 1,
        "error_logs_are_failures": 1,
        "processing_time_not_negative": 1,
    }
    assert report["summary"]["grade"] == "Fair"  # 97 of 100 clean


def test_rules_come_from_config(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    backend.seed(make_rows(50))
    extra = (
        "[checks.quality]\n"
        'min_grade = "Critical"\n'
        "indexes = []\n"
        "rules = [\n"
        '  { name = "fast_successes", when = "is_success", require = "processing_time_ms < 60" },\n'
        '  { name = "typed_badly", require = "status_code > 3" },\n'
        "]\n"
    )
    code, report, _ = check_quality(capsys, settings, tmp_path, extra)
    violators = {f["key"]["log_id"] for f in report["findings"] if f["kind"] == "rule_violation"}
    rows = make_rows(50)
    assert violators == {
        r["log_id"] for r in rows if r["is_success"] and r["processing_time_ms"] >= 60
    }
    # Comparing text with a number is reported once as a warning, not per record, not a crash.
    assert report["warnings"] == [
        "rule typed_badly could not be evaluated on 50 sampled record(s):"
        " cannot compare text with number"
    ]
    assert report["summary"]["indexes_checked"] == ["PendingByDate"]
    assert code == 0  # min_grade Critical: never fails on the grade


def test_a_bad_rule_stops_at_start_naming_the_key(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    extra = '[checks.quality]\nrules = [{ name = "r", require = "error_message = null" }]\n'
    code, _, err = check_quality(capsys, settings, tmp_path, extra, report=False)
    assert code == 2
    assert err.strip() == (
        "dualwrite-monitor: configuration error: checks.quality.rules[0].require:"
        " null is not a value here; write `x is null` or `x is not null` at character 17"
    )


def test_huge_and_odd_items_do_not_crash_quality(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(20)
    # ~350 KB (the wire format escapes non-ASCII, so the bulk is ASCII to stay under 400 KB).
    rows[0]["response_data"] = json.dumps({"blob": "x" * 350_000, "é": "ü"}, ensure_ascii=False)
    rows[1]["error_message"] = "NaN"
    rows[2]["application_id"] = "Zoë 🚀"
    backend.seed(
        rows,
        item_overrides={
            4: {"ServiceName": {"SS": ["a", "b"]}},
            5: {"ResponseData": {"M": {}}},
            6: {"ErrorMessage": {"NULL": True}},
        },
    )
    code, report, _ = check_quality(capsys, settings, tmp_path)
    assert found(report) == {("invalid_data", 4, "ServiceName")}
    assert report["summary"]["sampled"] == 20


def test_another_teams_table_gets_warnings_not_a_failure(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.test_other_mapping import MAPPING, create_and_fill

    anyio.run(create_and_fill, settings, set(), {8})
    config = write_config(tmp_path / "c.toml", settings, MAPPING)
    config.write_text(config.read_text().replace('"IntegrationLogs"', '"AuditEvents"'))
    window = ["--since", "2026-03-31T21:00:00Z", "--until", "2026-04-01T02:00:00Z"]
    code = main(["--config", str(config), "check", "quality", "--format", "json", *window])
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["sampled"] == 600
    assert report["summary"]["rules_checked"] == 0 and report["summary"]["indexes_checked"] == []
    assert len(report["warnings"]) == 10
    # Only the key and status are type-checked; event 44's status differs but is a valid S.
    assert report["findings"] == [] and report["summary"]["missing_in_dynamodb"] == 1
    assert code == 0 and report["summary"]["grade"] == "Excellent"
    code = main(["--config", str(config), "check", "sample", "--format", "json", *window])
    sample = json.loads(capsys.readouterr().out)
    assert sample["summary"]["sampled"] == 600 and sample["summary"]["bad_records"] == 1
    assert [f["key"] for f in sample["findings"]] == [{"event_id": 8}]
    assert sample["summary"]["mismatches_by_field"] == {}

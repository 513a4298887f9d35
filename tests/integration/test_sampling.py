"""`check sample` on the real stores: seeded corruptions are found, counted once per record,
missing counterparts count as bad, and the sample is drawn without sorting the window."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.checks.sampling import draw_sample, run_sample
from monitor.cli import main
from monitor.config import Settings
from monitor.core.stats import samples_needed, wilson_interval
from monitor.model import CheckReport, Window
from monitor.stores.postgres import sample_queries
from tests.backends import Backend
from tests.integration.scenario import BASE_TIME, make_rows, write_config

WINDOW_ARGS = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T12:00:00Z"]
WINDOW = Window(BASE_TIME.replace(hour=9), BASE_TIME.replace(hour=12))


def check_sample(
    capsys: pytest.CaptureFixture[str], settings: Settings, tmp_path: Path, extra: str = ""
) -> tuple[int, dict[str, Any]]:
    config = write_config(tmp_path / "c.toml", settings, extra)
    code = main(["--config", str(config), "check", "sample", "--format", "json", *WINDOW_ARGS])
    out = capsys.readouterr().out
    return code, json.loads(out)


def findings(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["kind"] == kind]


def test_three_bad_fields_make_one_bad_record(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(300)
    corrupt = {
        "LogType": {"S": "Request"},
        "StatusCode": {"S": "201"},
        "RequestData": {"S": json.dumps({"applicant": "A9", "amount": 31337})},
    }
    backend.seed(rows, item_overrides={10: corrupt})
    code, report = check_sample(capsys, settings, tmp_path)
    summary = report["summary"]
    assert summary["sampled"] == 300 and summary["sampling"] == "all"
    assert summary["bad_records"] == 1
    assert summary["mismatches_by_field"] == {
        "LogType": 1,
        "IsSuccess": 0,
        "StatusCode": 1,
        "LogTimestamp": 0,
        "RequestData": 1,
    }
    mismatches = findings(report, "field_mismatch")
    assert {(f["key"]["log_id"], f["field"]) for f in mismatches} == {
        (10, "LogType"),
        (10, "StatusCode"),
        (10, "RequestData"),
    }
    by_field = {f["field"]: f for f in mismatches}
    # JSON differences are named by path, never by value.
    assert by_field["RequestData"]["detail"] == "differs at $.amount"
    assert "31337" not in json.dumps(report) and "Request" not in by_field["LogType"]["detail"]
    assert by_field["LogType"]["sk"].endswith("#10")
    interval = wilson_interval(299, 300)
    assert summary["accuracy"] == {
        "point": round(interval.point, 6),
        "lower": round(interval.lower, 6),
        "upper": round(interval.upper, 6),
    }
    assert summary["samples_needed"] == samples_needed(0.9999)
    # One bad record in 300 cannot show accuracy below 99.9 %: the upper bound is above it.
    assert interval.upper > 0.999 and code == 0 and report["ok"] is True


def test_many_bad_records_fail_only_when_the_interval_is_below_the_threshold(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(200)
    backend.seed(rows, item_overrides={k: {"StatusCode": {"S": "418"}} for k in range(1, 11)})
    code, report = check_sample(capsys, settings, tmp_path)
    assert report["summary"]["bad_records"] == 10
    assert report["summary"]["accuracy"]["upper"] < 0.999
    assert code == 1 and report["ok"] is False


def test_a_missing_counterpart_is_a_bad_record_not_skipped(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    backend.seed(make_rows(120), drop_from_dynamodb={5, 77})
    code, report = check_sample(capsys, settings, tmp_path)
    summary = report["summary"]
    assert summary["sampled"] == 120
    assert summary["missing_in_dynamodb"] == 2 and summary["bad_records"] == 2
    missing = findings(report, "missing_in_dynamodb")
    assert sorted(f["key"]["log_id"] for f in missing) == [5, 77]
    assert all(f["sql_status"] == "Committed" and f["dynamodb_status"] is None for f in missing)
    assert summary["accuracy"]["point"] == round(118 / 120, 6)


def test_invalid_json_is_invalid_data_never_a_string_compare(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(60)
    rows[19]["request_data"] = '{"applicant": "A19", '  # log_id 20: the same bad text in both
    rows[21]["request_data"] = "NOT JSON"  # log_id 22: equal ignoring case: the seed's fallback
    backend.seed(
        rows,
        item_overrides={
            21: {"RequestData": {"S": "{NOT JSON"}},  # valid in SQL, broken in DynamoDB
            22: {"RequestData": {"S": "not json"}},
        },
    )
    code, report = check_sample(capsys, settings, tmp_path)
    invalid = {f["key"]["log_id"]: f for f in findings(report, "invalid_data")}
    assert set(invalid) == {20, 21, 22}
    assert all(f["field"] == "RequestData" for f in invalid.values())
    assert invalid[20]["detail"].startswith("sql value is not valid JSON")
    assert invalid[20]["detail"].endswith("dynamodb value is identical")
    assert invalid[21]["detail"].startswith("dynamodb value is not valid JSON")
    assert "also invalid" in invalid[22]["detail"]
    assert findings(report, "field_mismatch") == []
    summary = report["summary"]
    # A faithful copy of bad text (20) is the source's problem; 21 and 22 differ: bad records.
    assert summary["bad_records"] == 2
    assert summary["invalid_records"] == 3
    assert summary["mismatches_by_field"]["RequestData"] == 2
    assert "NOT JSON" not in json.dumps(report) and "not json" not in json.dumps(report)


def test_huge_and_odd_values_do_not_crash(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    rows = make_rows(30)
    huge = json.dumps({"blob": "x" * 380_000, "n": 1})
    rows[0]["request_data"] = huge  # log_id 1: a ~380 KB item
    rows[1]["request_data"] = json.dumps({"name": "Zoë 🚀 مرحبا", "v": "NaN", "w": "Infinity"})
    rows[2]["log_type"] = "NaN"
    rows[3]["status_code"] = "-Infinity"
    rows[4]["request_data"] = "[]"
    rows[5]["request_data"] = ""
    rows[6]["request_data"] = "NaN"  # Python's json reads it; RFC 8259 does not
    backend.seed(
        rows,
        item_overrides={
            5: {"RequestData": {"L": []}},  # an empty list attribute equals the JSON text []
            8: {"StatusCode": {"SS": ["200", "500"]}},  # a set where a string belongs
            9: {"LogType": {"M": {}}},
            10: {"RequestData": {"S": json.dumps({"name": "Zoe"})}},
            11: {"IsSuccess": {"NULL": True}},
        },
    )
    code, report = check_sample(capsys, settings, tmp_path)
    summary = report["summary"]
    assert summary["sampled"] == 30
    bad = {(f["kind"], f["key"]["log_id"], f["field"]) for f in report["findings"]}
    assert bad == {
        ("invalid_data", 6, "RequestData"),  # empty text: identical on both sides
        ("invalid_data", 7, "RequestData"),  # NaN is not JSON: identical on both sides
        ("field_mismatch", 8, "StatusCode"),
        ("field_mismatch", 9, "LogType"),
        ("field_mismatch", 10, "RequestData"),
        ("field_mismatch", 11, "IsSuccess"),
    }
    assert summary["bad_records"] == 4
    assert "🚀" not in json.dumps(report, ensure_ascii=False)


def test_a_small_window_is_compared_whole(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    backend.seed(make_rows(40))
    code, report = check_sample(
        capsys, settings, tmp_path, "[checks.sampling]\nsample_size = 1000\n"
    )
    summary = report["summary"]
    assert code == 0 and report["findings"] == []
    assert (summary["sampled"], summary["window_records"], summary["sampling"]) == (40, 40, "all")
    assert summary["accuracy"]["point"] == 1.0
    assert summary["accuracy"]["lower"] == round(wilson_interval(40, 40).lower, 6)


def test_an_empty_window_proves_nothing_and_is_ok(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = backend.settings
    backend.seed([])
    code, report = check_sample(capsys, settings, tmp_path)
    assert code == 0
    assert report["summary"]["sampled"] == 0 and report["summary"]["accuracy"] is None


def sampled_keys(backend: Backend, size: int, seed_value: float, rng_seed: int) -> list[int]:
    async def go() -> list[int]:
        async with backend.context() as context:
            sample = await draw_sample(
                context.sql,
                WINDOW,
                size,
                ("log_id", "log_timestamp"),
                rng=random.Random(rng_seed),
                seed=seed_value,
            )
        assert sample.method == "bernoulli" and sample.window_records == 3000
        return [int(row["log_id"]) for row in sample.rows]

    return anyio.run(go)


def test_a_large_window_is_sampled_uniformly(backend: Backend) -> None:
    rows = make_rows(3000, step=timedelta(milliseconds=1500))
    # Every 50th record shares its timestamp with the one before it.
    for index in range(1, 3000, 50):
        rows[index]["log_timestamp"] = rows[index - 1]["log_timestamp"]
    backend.seed(rows, drop_from_dynamodb=range(1, 3001))  # the draw reads PostgreSQL only
    keys = sampled_keys(backend, 500, 0.25, 7)
    assert len(keys) == len(set(keys)) == 500
    assert keys == sampled_keys(backend, 500, 0.25, 7)  # setseed + a seeded RNG: repeatable
    assert keys != sampled_keys(backend, 500, -0.5, 8)
    # Uniform over the window: each tenth of it (300 records) holds about 50 of the 500
    # (binomial sd ~6.7; the bounds are beyond 3.5 sd and the seeds are fixed).
    deciles = Counter((k - 1) // 300 for k in keys)
    assert all(26 <= deciles[d] <= 74 for d in range(10)), deciles
    # Both records of a shared timestamp can be drawn: ties are not collapsed.
    tied = {r["log_id"] for r in rows[1::50]} | {r["log_id"] for r in rows[0::50]}
    assert tied & set(keys)


def test_counterparts_are_fetched_in_batches_of_100(backend: Backend) -> None:
    settings = backend.settings
    backend.seed(make_rows(600, step=timedelta(milliseconds=100)))
    tuned = settings.model_copy(
        update={
            "checks": settings.checks.model_copy(
                update={
                    "sampling": settings.checks.sampling.model_copy(update={"sample_size": 250})
                }
            )
        }
    )

    async def go() -> tuple[CheckReport, int]:
        async with backend.context(tuned) as context:
            dynamo: Any = context.dynamo
            report = await run_sample(
                tuned, context.sql, dynamo, WINDOW, rng=random.Random(1), seed=0.5
            )
            # Calls answered, not attempts: a retried timeout is the same read.
            return report, dynamo.requests - getattr(dynamo, "retried", 0)

    report, requests = anyio.run(go)
    assert report.summary["sampled"] == 250 and report.summary["bad_records"] == 0
    assert report.summary["sampling"] == "bernoulli"
    assert requests == 3  # ceil(250 / 100) BatchGetItem calls, never one GetItem per row
    assert report.summary["read_units"] > 0


def test_the_sampling_queries_never_sort_the_window() -> None:
    mapping = Settings().table_mapping()
    queries = sample_queries(mapping, ("log_id", "log_timestamp", "request_data"))
    for text in (queries.count, queries.draw, queries.at, queries.every):
        assert "ORDER BY" not in text.upper()
        assert "TABLESAMPLE" not in text.upper()
    assert queries.draw == (
        'SELECT "log_timestamp" FROM "integration_logs"'
        ' WHERE "log_timestamp" >= $1 AND "log_timestamp" < $2 AND random() < $3'
    )
    assert queries.count.startswith('SELECT count(*) FROM "integration_logs" WHERE')
    assert '"log_timestamp" = ANY($1::timestamptz[])' in queries.at
    assert queries.at.startswith('SELECT "log_id", "log_timestamp", "request_data" FROM')

"""`verify --from --until` on the real stores: old history walked window by window, findings
naming every key of the range, checkpoints that resume and are never reused once complete."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import Settings
from tests.integration.scenario import make_rows, seed, write_config

#: 300 records, one every 9 minutes from 2026-01-01T10:00Z: 45 hours of history.
STEP = timedelta(minutes=9)
RANGE = ["--from", "2026-01-01T08:00:00Z", "--until", "2026-01-03T08:00:00Z"]
VERIFY_CONFIG = '[verify]\nwindow = "2h"\nshard_windows = 3\n[checks.counts]\nslice_records = 100\n'


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    document = json.loads(out) if out.strip().startswith("{") else out
    return code, document, err


def verify(capsys: pytest.CaptureFixture[str], config: Path, *extra: str) -> tuple[int, Any, str]:
    return run_cli(capsys, "--config", str(config), "verify", "--format", "json", *extra)


def keys_of(report: dict[str, Any], kind: str) -> set[int]:
    return {f["key"]["log_id"] for f in report["findings"] if f["kind"] == kind}


def planted(settings: Settings) -> None:
    overrides = {250: {"WriteStatus": {"S": "Pending"}}}
    seed(
        settings,
        make_rows(300, step=STEP),
        drop_from_sql={3, 140},
        drop_from_dynamodb={1, 77, 299},
        item_overrides=overrides,
    )


def test_divergence_in_old_history_is_found_and_a_complete_run_is_not_reused(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted(settings)
    config = write_config(tmp_path / "c.toml", settings, VERIFY_CONFIG)
    code, report, err = verify(capsys, config, *RANGE)
    assert code == 1, err
    assert report["check"] == "verify"
    assert report["window"] == {"start": "2026-01-01T08:00:00Z", "end": "2026-01-03T08:00:00Z"}
    assert keys_of(report, "missing_in_dynamodb") == {1, 77, 299}
    assert keys_of(report, "missing_in_sql") == {3, 140}
    assert keys_of(report, "status_divergence") == {250}
    summary = report["summary"]
    assert (summary["sql_count"], summary["dynamodb_count"]) == (298, 297)
    assert summary["coverage"] == {
        "windows_done": 24,
        "windows_total": 24,
        "windows_resumed": 0,
        "records": 298 + 297,
    }
    assert summary["shards"] == 8
    first_run = summary["run_id"]

    # A completed run is never reused: the same range again reads everything again.
    code, again, _ = verify(capsys, config, *RANGE)
    assert code == 1
    assert again["summary"]["run_id"] != first_run
    assert again["summary"]["coverage"]["windows_resumed"] == 0
    assert again["findings"] == report["findings"]


def test_consistent_history_exits_0_in_text(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(120, step=STEP))
    config = write_config(tmp_path / "c.toml", settings, VERIFY_CONFIG)
    code, out, err = run_cli(capsys, "--config", str(config), "verify", *RANGE)
    assert code == 0, err
    assert "check verify on integration_logs: OK" in out
    assert '"windows_done": 24' in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until", "2026-01-02T00:00:00Z"], "verify needs --from"),
        (["--from", "2026-01-03T00:00:00Z", "--until", "2026-01-02T00:00:00Z"], "is not before"),
        (["--from", "2999-01-01T00:00:00Z"], "is not before now - settle"),
    ],
)
def test_a_bad_range_is_one_line_and_exit_2(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    config = write_config(tmp_path / "c.toml", settings, VERIFY_CONFIG)
    code, out, err = verify(capsys, config, *args)
    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [err.strip()] and message in err


def test_a_timestamp_without_zone_is_a_usage_error(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", settings, VERIFY_CONFIG)
    with pytest.raises(SystemExit) as raised:
        verify(capsys, config, "--from", "2026-01-01T00:00:00")
    assert raised.value.code == 2
    assert "has no time zone" in capsys.readouterr().err


def test_unchanged_slices_are_settled_by_checksum_alone(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(300, step=STEP), drop_from_dynamodb={150})
    config = write_config(tmp_path / "c.toml", settings, VERIFY_CONFIG)
    code, report, err = verify(capsys, config, *RANGE)
    assert code == 1, err
    assert keys_of(report, "missing_in_dynamodb") == {150}
    summary = report["summary"]
    # Only the slice holding key 150 had its SQL keys read and diffed.
    assert summary["slices_equal_by_checksum"] == summary["slices"] - 1
    assert (summary["sql_count"], summary["dynamodb_count"]) == (300, 299)


def test_postgres_checksums_are_the_ones_computed_from_dynamodb_items(
    settings: Settings,
) -> None:
    import anyio

    from monitor.core.checksum import checksum
    from monitor.model import KeyStatus
    from monitor.stores.postgres import PostgresStore

    rows = make_rows(40, step=STEP, first_key=2**62)
    for i, row in enumerate(rows):
        row["write_status"] = ("Committed", "Pending", "Failed", "Zürich ✓")[i % 4]
    seed(settings, rows)

    async def read() -> list[tuple[tuple[str, ...], int, int, int]]:
        async with PostgresStore.open(settings.postgres, settings.table_mapping()) as sql:
            start = rows[0]["log_timestamp"]
            end = rows[-1]["log_timestamp"] + STEP
            return await sql.bucket_checksums(start, end, [start])

    found = anyio.run(read)
    expected: dict[tuple[str, ...], list[KeyStatus]] = {}
    for row in rows:
        entry = KeyStatus(row["log_id"], row["write_status"])
        expected.setdefault((row["service_name"],), []).append(entry)
    assert {(p, b, n, s) for p, b, n, s in found} == {
        (p, 1, len(entries), checksum(entries)) for p, entries in expected.items()
    }


def test_a_corrupted_field_in_old_history_is_found_by_the_field_sample_alone(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Keys and statuses agree everywhere: only a compared field of key 40 differs.
    seed(
        settings,
        make_rows(300, step=STEP),
        drop_from_dynamodb={120},
        item_overrides={40: {"LogType": {"S": "Request"}}},
    )
    config = write_config(tmp_path / "c.toml", settings, VERIFY_CONFIG)

    code, without, err = verify(capsys, config, *RANGE, "--strict")
    assert code == 1, err
    assert keys_of(without, "missing_in_dynamodb") == {120}
    assert keys_of(without, "field_mismatch") == set()
    assert "sample" not in without["summary"]

    code, sampled, err = verify(capsys, config, *RANGE, "--strict", "--sample-fraction", "1")
    assert code == 1, err
    assert [
        (f["key"]["log_id"], f["field"])
        for f in sampled["findings"]
        if f["kind"] == "field_mismatch"
    ] == [(40, "LogType")]
    # The sampled record missing in DynamoDB is named once, by the key diff.
    assert [
        f["key"]["log_id"] for f in sampled["findings"] if f["kind"] == "missing_in_dynamodb"
    ] == [120]
    sample = sampled["summary"]["sample"]
    assert (sample["sampled"], sample["bad_records"]) == (300, 2)
    assert sample["mismatches_by_field"]["LogType"] == 1
    assert sample["accuracy"]["point"] == round(298 / 300, 6)


def test_the_field_sample_is_a_share_of_each_window(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(300, step=STEP))
    halves = VERIFY_CONFIG.replace("[verify]\n", "[verify]\nsample_fraction = 0.5\n")
    config = write_config(tmp_path / "c.toml", settings, halves)
    code, report, err = verify(capsys, config, *RANGE)
    assert code == 0, err
    sample = report["summary"]["sample"]
    # 24 windows of about 13 records, each sampled at half, rounded either way per window.
    assert 150 - 24 <= sample["sampled"] <= 150 + 24
    assert sample["bad_records"] == 0
    code, out, err = verify(
        capsys, config, "--from-export", str(tmp_path), "--sample-fraction", "0.1"
    )
    assert code == 2 and "--sample-fraction is for the online walk" in err

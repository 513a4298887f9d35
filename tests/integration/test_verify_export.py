"""`verify --from-export` on the real stores: an export of the DynamoDB table (written in the
documented layout from a Scan of it) against a snapshot of PostgreSQL, compared in DuckDB; the
same findings as `check counts` and the online `verify` over the same range."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.verify import export_compare, export_run
from tests.export_writer import scan_table, upload_folder, write_export
from tests.integration.scenario import dynamo_client, make_rows, seed, write_config

#: 300 records, one every 9 minutes from 2026-01-01T10:00Z: 45 hours of history.
STEP = timedelta(minutes=9)
START = "2026-01-01T08:00:00Z"
#: The export's time; minus the default settle (2m) the range ends at 2026-01-03T08:00Z.
EXPORT_TIME = datetime(2026, 1, 3, 8, 2, tzinfo=UTC)
END = "2026-01-03T08:00:00Z"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    document = json.loads(out) if out.strip().startswith("{") else out
    return code, document, err


def planted(settings: Settings) -> None:
    rows = make_rows(300, step=STEP)
    rows[59]["write_status"] = "Compensated"  # key 60: compensated in SQL, absent in DynamoDB
    seed(
        settings,
        rows,
        drop_from_sql={3, 140},
        drop_from_dynamodb={1, 60, 77, 299},
        item_overrides={
            250: {"WriteStatus": {"S": "Pending"}},
            180: {"LogId": {"S": "not-a-number"}},  # unreadable; its sort key still names 180
            200: {"LogType": {"S": "Corrupted"}},
        },
    )


async def _export(settings: Settings, root: Path, extra_lines: tuple[str, ...]) -> Path:
    async with dynamo_client(settings) as client:
        items = await scan_table(client, settings.dynamodb.table)
    return write_export(root, items, export_time=EXPORT_TIME, files=3, lines=extra_lines)


def export_table(settings: Settings, root: Path, *extra_lines: str) -> Path:
    return anyio.run(_export, settings, root, extra_lines)


def kinds(report: dict[str, Any]) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = {}
    for f in report["findings"]:
        out.setdefault(f["kind"], set()).add(f["key"]["log_id"])
    return out


FIGURES = (
    "sql_count",
    "dynamodb_count",
    "missing_in_dynamodb",
    "missing_in_sql",
    "status_divergence",
    "invalid_data",
    "agreed_absent",
    "consistency",
    "variance_percent",
)


@pytest.mark.parametrize(
    ("piece_rows", "overlap"),
    [(1_000_000, "never"), (5, "always")],
    ids=["whole join, the COPY after the read", "join in pieces, the COPY beside the read"],
)
def test_old_divergence_is_found_from_an_export_as_counts_and_online_verify_find_it(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    piece_rows: int,
    overlap: str,
) -> None:
    monkeypatch.setattr(export_compare, "JOIN_PIECE_ROWS", piece_rows)
    planted(settings)
    folder = export_table(settings, tmp_path / "exports")
    # The online walk in 12 h windows (4 over the range, not 48): the same findings and figures.
    config = write_config(
        tmp_path / "c.toml",
        settings,
        "[checks.counts]\nslice_records = 100\n"
        f'[verify]\nwindow = "12h"\nexport_overlap = "{overlap}"\n',
    )
    common = ("--config", str(config), "--format", "json")

    code, exported, err = run_cli(
        capsys, *common, "verify", "--from", START, "--from-export", str(folder)
    )
    assert code == 1, err
    assert exported["check"] == "verify"
    assert exported["window"] == {"start": START, "end": END}
    assert kinds(exported) == {
        "missing_in_dynamodb": {1, 77, 299},
        "missing_in_sql": {3, 140},
        "status_divergence": {250},
        "invalid_data": {"not-a-number"},
    }
    summary = exported["summary"]
    assert (summary["sql_count"], summary["dynamodb_count"], summary["agreed_absent"]) == (
        297,
        296,
        1,
    )
    assert summary["coverage"] == {
        "windows_done": 1,
        "windows_total": 1,
        "windows_resumed": 0,
        "records": 593,
    }
    assert summary["read_units"] == 0
    assert summary["export"]["items"] == 296 and summary["export"]["files"] == 3

    code, counted, err = run_cli(
        capsys, *common, "check", "counts", "--since", START, "--until", END
    )
    assert code == 1, err
    assert exported["findings"] == counted["findings"]
    assert {k: summary[k] for k in FIGURES} == {k: counted["summary"][k] for k in FIGURES}

    code, online, err = run_cli(capsys, *common, "verify", "--from", START, "--until", END)
    assert code == 1, err
    assert exported["findings"] == online["findings"]
    assert {k: summary[k] for k in FIGURES} == {k: online["summary"][k] for k in FIGURES}


def test_fields_are_compared_by_hashes_computed_the_same_way_on_both_sides(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted(settings)
    folder = export_table(settings, tmp_path / "exports")
    config = write_config(tmp_path / "c.toml", settings)
    code, report, err = run_cli(
        capsys,
        "--config",
        str(config),
        "--format",
        "json",
        "verify",
        "--from-export",
        str(folder),
        "--fields",
    )
    assert code == 1, err
    mismatches = [f for f in report["findings"] if f["kind"] == "field_mismatch"]
    # Every other record's five fields (text, boolean, time within 1s, JSON) hash equal.
    assert [(f["key"], f["field"]) for f in mismatches] == [({"log_id": 200}, "LogType")]
    assert mismatches[0]["detail"].startswith("md5 ")
    assert "Corrupted" not in json.dumps(report)
    assert report["window"]["start"] == "1970-01-01T00:00:00Z"
    assert report["summary"]["fields_compared"] is True


def test_an_export_in_s3_reads_as_the_same_export_on_disk(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_server: str
) -> None:
    planted(settings)
    folder = export_table(settings, tmp_path / "exports")
    url = anyio.run(upload_folder, tmp_path / "exports", folder, "dynamodb-exports", s3_server)
    config = write_config(
        tmp_path / "c.toml",
        settings,
        f'[verify]\nexport_s3_endpoint_url = "{s3_server}"\nexport_temp_dir = "{tmp_path / "tmp"}"\n',
    )
    common = ("--config", str(config), "--format", "json", "verify", "--from", START)
    code, from_s3, err = run_cli(capsys, *common, "--from-export", url)
    assert code == 1, err
    code, from_disk, _ = run_cli(capsys, *common, "--from-export", str(folder))
    assert from_s3["findings"] == from_disk["findings"]
    assert from_s3["summary"]["export"] == from_disk["summary"]["export"]
    assert list((tmp_path / "tmp").iterdir()) == []  # staging, snapshot and spill removed


def test_a_malformed_item_is_a_finding_and_a_line_that_is_not_json_one_clear_error(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(20, step=STEP))
    config = write_config(tmp_path / "c.toml", settings)
    common = ("--config", str(config), "--format", "json", "verify", "--from-export")
    odd = [
        json.dumps(
            {
                "Item": {
                    "PK": {"S": "LOG#X#2026-01-01"},
                    "SK": {"S": "2026-01-01T11:00:00.000000Z#5000"},
                    "LogId": {"BOOL": True},
                    "WriteStatus": {"S": "Committed"},
                }
            }
        ),
        json.dumps(
            {
                "Item": {
                    "PK": {"S": "LOG#X#2026-01-01"},
                    "SK": {"S": "2026-01-01T11:00:00.000000Z#5001"},
                    "LogId": {"N": "5001"},
                    "WriteStatus": {"N": "1"},
                }
            }
        ),
        json.dumps(
            {
                "Item": {
                    "PK": {"S": "LOG#X#2026-01-01"},
                    "SK": {"S": "2026-01-01T11:00:00.000000Z#5002"},
                    "LogId": {"N": "5.002E3"},
                    "WriteStatus": {"S": "Committed"},
                }
            }
        ),
        json.dumps(
            {
                "Item": {
                    "PK": {"S": "LOG#X#2026-01-01"},
                    "SK": {"S": "2026-01-01T11:00:00.000000Z#5003"},
                    "LogId": {"N": str(2**64)},  # beyond the bigint column: no SQL row has it
                    "WriteStatus": {"S": "Committed"},
                }
            }
        ),
    ]
    folder = export_table(settings, tmp_path / "a", *odd)
    code, report, err = run_cli(capsys, *common, str(folder))
    assert code == 1, err
    found = {(f["kind"], f["key"]["log_id"], f.get("detail")) for f in report["findings"]}
    assert found == {
        ("invalid_data", "<BOOL key>", "LogId is neither N nor S"),
        ("invalid_data", 5001, "WriteStatus is not a string attribute"),
        # 5.002E3 is an exact integer: read as 5002 (as the online checks read it), no SQL row.
        ("missing_in_sql", 5002, None),
        ("missing_in_sql", 2**64, None),
    }
    # An item decoded again is named by its own partition and sort key, like any other.
    (read_again,) = [f for f in report["findings"] if f["key"]["log_id"] == 5002]
    assert (read_again["pk"], read_again["sk"]) == (
        "LOG#X#2026-01-01",
        "2026-01-01T11:00:00.000000Z#5002",
    )

    folder = export_table(
        settings, tmp_path / "b", '{"Item": {"PK": {"S": "LOG#X#2026-01-01"}, "SK"'
    )
    code, _, err = run_cli(capsys, *common, str(folder))
    assert code == 2
    assert err.startswith("dualwrite-monitor: export ") and "a data file cannot be read" in err
    assert re.search(r"\.json\.gz line \d+: not JSON$", err.strip()), err
    assert "LOG#X" not in err  # named by its file and line, never shown
    assert err.count("\n") == 1 and "Traceback" not in err


def drop_last_line(folder: Path) -> Path:
    """A partial copy of one data file: still valid gzip, one line short; the file."""
    data = next(p for p in sorted((folder / "data").iterdir()) if p.stat().st_size > 40)
    with gzip.open(data, "rt") as stream:
        lines = stream.readlines()
    with gzip.open(data, "wt") as stream:
        stream.writelines(lines[:-1])
    return data


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("not_a_folder", "is not a folder"),
        ("parent_folder", "no manifest-summary.json here"),
        ("manifest", "manifest-files.json line 1: not JSON"),
        ("ion", "only DYNAMODB_JSON exports are read"),
        ("checksum", "does not match its md5Checksum in manifest-files.json"),
        # Checked while DuckDB reads it: the checksum, not the read's error, says what is wrong.
        ("truncated", "does not match its md5Checksum in manifest-files.json"),
    ],
)
def test_a_bad_export_is_one_line_and_exit_2(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    damage: str,
    says: str,
) -> None:
    seed(settings, make_rows(5, step=STEP))
    folder = export_table(settings, tmp_path / "exports")
    target = folder
    if damage == "not_a_folder":
        target = tmp_path / "missing"
    elif damage == "parent_folder":
        target = folder.parent
    elif damage == "manifest":
        (folder / "manifest-files.json").write_text("{oops\n")
    elif damage == "checksum":
        drop_last_line(folder)
    elif damage == "truncated":
        data = next(p for p in sorted((folder / "data").iterdir()) if p.stat().st_size > 40)
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    else:
        summary = json.loads((folder / "manifest-summary.json").read_text())
        (folder / "manifest-summary.json").write_text(json.dumps(summary | {"outputFormat": "ION"}))
    config = write_config(tmp_path / "c.toml", settings)
    copied: list[object] = []  # PostgreSQL here is local: the snapshot would come after the read
    monkeypatch.setattr(export_run, "export_snapshot", lambda *a, **k: copied.append(a))
    code, out, err = run_cli(
        capsys, "--config", str(config), "verify", "--from-export", str(target)
    )
    assert code == 2
    assert out == ""
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert copied == []  # a bad export fails before the snapshot is copied


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ('{"Item": "secret-value"}', "item has no LogId attribute"),
        ('["secret-value"]', "item has no LogId attribute"),
        ('{"Item": {"LogId": {"BOOL": "secret-value"}}}', "LogId is neither N nor S"),
    ],
)
def test_a_line_that_is_no_item_is_an_invalid_data_finding_never_showing_its_content(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, detail: str
) -> None:
    seed(settings, make_rows(3, step=STEP))
    folder = export_table(settings, tmp_path / "exports", line)
    config = write_config(tmp_path / "c.toml", settings)
    code, report, err = run_cli(
        capsys, "--config", str(config), "--format", "json", "verify", "--from-export", str(folder)
    )
    assert code == 1, err
    assert [(f["kind"], f["detail"]) for f in report["findings"]] == [("invalid_data", detail)]
    assert "secret" not in json.dumps(report) and "secret" not in err


def duplicated(settings: Settings, root: Path) -> Path:
    """50 records; in SQL (its unique key dropped) key 30 twice and key 40 twice, one copy
    Pending; in the export key 10 three times and key 20 twice, one copy Pending."""
    seed(settings, make_rows(50, step=STEP))
    dsn = settings.postgres.dsn.get_secret_value()

    async def duplicate_sql_rows() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("ALTER TABLE integration_logs DROP CONSTRAINT integration_logs_pkey")
            await conn.execute(
                "INSERT INTO integration_logs SELECT * FROM integration_logs WHERE log_id = 30"
            )
            await conn.execute(
                "INSERT INTO integration_logs SELECT * FROM integration_logs WHERE log_id = 40"
            )
            await conn.execute(
                "UPDATE integration_logs SET write_status = 'Pending' WHERE ctid ="
                " (SELECT max(ctid) FROM integration_logs WHERE log_id = 40)"
            )
        finally:
            await conn.close()

    anyio.run(duplicate_sql_rows)

    async def items() -> list[dict[str, Any]]:
        async with dynamo_client(settings) as client:
            return await scan_table(client, settings.dynamodb.table)

    by_key = {int(i["LogId"]["N"]): i for i in anyio.run(items)}
    twice = json.dumps({"Item": by_key[10]})
    other = json.dumps({"Item": by_key[20] | {"WriteStatus": {"S": "Pending"}}})
    return export_table(settings, root, twice, twice, other)


@pytest.mark.parametrize("piece_rows", [1_000_000, 7], ids=["whole join", "join in pieces"])
def test_a_key_twice_on_either_side_is_a_multiset_difference(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    piece_rows: int,
) -> None:
    """A copy of an item in the export, or of a row in a SQL table with no unique key, neither
    hides behind its twin nor multiplies the findings: copies are paired one to one, whether
    the join runs whole or in key ranges."""
    monkeypatch.setattr(export_compare, "JOIN_PIECE_ROWS", piece_rows)
    folder = duplicated(settings, tmp_path / "exports")
    config = write_config(tmp_path / "c.toml", settings)
    common = ("--config", str(config), "--format", "json")
    code, report, err = run_cli(capsys, *common, "verify", "--from-export", str(folder))
    assert code == 1, err
    found = sorted(
        (f["kind"], f["key"]["log_id"], f.get("sql_status"), f.get("dynamodb_status"))
        for f in report["findings"]
    )
    assert found == [
        ("missing_in_dynamodb", 30, "Committed", None),
        ("missing_in_dynamodb", 40, "Pending", None),
        ("missing_in_sql", 10, None, "Committed"),
        ("missing_in_sql", 10, None, "Committed"),
        ("missing_in_sql", 20, None, "Pending"),
    ]
    summary = report["summary"]
    assert (summary["sql_count"], summary["dynamodb_count"]) == (52, 53)
    assert summary["export"]["items"] == 53


def test_a_memory_limit_the_process_cannot_keep_is_one_line_and_exit_2(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(5, step=STEP))
    folder = export_table(settings, tmp_path / "exports")
    config = write_config(
        tmp_path / "c.toml", settings, '[verify]\nexport_memory_limit = "100MB"\n'
    )
    code, out, err = run_cli(
        capsys, "--config", str(config), "verify", "--from-export", str(folder)
    )
    assert (code, out) == (2, "")
    assert "verify.export_memory_limit: '100MB' is too small" in err, err
    assert re.search(r"give at least \d+MB$", err.strip()), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_sql_row_with_a_null_key_column_is_counted_apart_never_joined(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SQL row whose partition column is NULL renders no partition key (its item cannot
    exist in DynamoDB): it is a warning, and the export's item of that key has no partner."""
    seed(settings, make_rows(20, step=STEP))
    folder = export_table(settings, tmp_path / "exports")
    dsn = settings.postgres.dsn.get_secret_value()

    async def null_partition() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "ALTER TABLE integration_logs ALTER COLUMN service_name DROP NOT NULL"
            )
            await conn.execute("UPDATE integration_logs SET service_name = NULL WHERE log_id = 7")
        finally:
            await conn.close()

    anyio.run(null_partition)
    config = write_config(tmp_path / "c.toml", settings)
    code, report, err = run_cli(
        capsys, "--config", str(config), "--format", "json", "verify", "--from-export", str(folder)
    )
    assert code == 1, err
    assert kinds(report) == {"missing_in_sql": {7}}
    assert any(w.startswith("1 SQL rows have a NULL partition") for w in report["warnings"])
    assert (report["summary"]["sql_count"], report["summary"]["dynamodb_count"]) == (19, 20)

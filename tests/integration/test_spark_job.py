"""The Spark job (monitor/verify/spark_job.py) in local mode: the same report as the DuckDB path
on the same export and snapshot. Opt-in: `pytest -m spark` (the spark extra, Java 17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Settings
from monitor.errors import EXIT_USAGE, MonitorError
from tests.integration.scenario import make_rows, seed, write_config
from tests.integration.test_verify_export import (
    FIGURES,
    STEP,
    drop_last_line,
    duplicated,
    export_table,
    planted,
    run_cli,
)

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

JOB = Path(__file__).resolve().parents[2] / "monitor" / "verify" / "spark_job.py"


def spark_submit(*args: str) -> subprocess.CompletedProcess[str]:
    python = sys.executable
    env = os.environ | {"PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python}
    submit = Path(python).parent / "spark-submit"
    return subprocess.run(
        [
            str(submit),
            "--master",
            "local[2]",
            "--conf",
            "spark.ui.enabled=false",
            "--driver-memory",
            "1g",
            str(JOB),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=800,
        check=False,
    )


def test_spark_submit_names_what_the_duckdb_path_names(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted(settings)
    folder = export_table(settings, tmp_path / "exports")
    duck, written, spark = duckdb_then_spark(settings, tmp_path, capsys, folder, "--fields")
    assert written["window"]["end"] == duck["window"]["end"]
    assert spark["summary"]["engine"] == "spark"
    assert spark["summary"]["coverage"] == duck["summary"]["coverage"]
    assert spark["window"] == duck["window"]
    assert {f["kind"] for f in spark["findings"]} == {
        "missing_in_dynamodb",
        "missing_in_sql",
        "status_divergence",
        "invalid_data",
        "field_mismatch",
    }


def test_spark_pairs_duplicated_keys_one_to_one_as_the_duckdb_path(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = duplicated(settings, tmp_path / "exports")
    _, _, spark = duckdb_then_spark(settings, tmp_path, capsys, folder)
    assert len(spark["findings"]) == 5


def duckdb_then_spark(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    *options: str,
) -> tuple[Any, Any, dict[str, Any]]:
    """The export compared by the DuckDB path, then by spark-submit on a snapshot taken with
    the same options: (DuckDB's report, the snapshot run's, Spark's). Both find differences
    (exit 1) and name the same findings and figures."""
    code, duck, err = verify_cli(settings, tmp_path, capsys, folder, *options)
    assert code == 1, err
    snap, written = take_snapshot(settings, tmp_path, capsys, folder, *options)
    done = spark_submit(
        "--config",
        str(tmp_path / "c.toml"),
        "--export",
        str(folder),
        "--snapshot",
        str(snap),
        "--format",
        "json",
    )
    assert done.returncode == 1, done.stderr[-2000:]
    spark: dict[str, Any] = json.loads(done.stdout)
    assert spark["findings"] == duck["findings"]
    assert {k: spark["summary"][k] for k in FIGURES} == {k: duck["summary"][k] for k in FIGURES}
    return duck, written, spark


def verify_cli(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    *options: str,
) -> tuple[int, Any, str]:
    """`verify --from-export FOLDER OPTIONS --format json` with the config in `tmp_path/c.toml`."""
    config = write_config(tmp_path / "c.toml", settings)
    common = ("--config", str(config), "--format", "json", "verify", "--from-export", str(folder))
    return run_cli(capsys, *common, *options)


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    )
    yield spark
    spark.stop()


#: For a test that drives Spark in this process (py4j's sockets, pyspark's deprecations).
in_this_process = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::ResourceWarning"
)


def take_snapshot(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    *options: str,
) -> tuple[Path, Any]:
    """`verify --from-export FOLDER --snapshot-to` (the job's first step): (the snapshot's folder,
    the run's report)."""
    snap = tmp_path / "snap"
    code, written, err = verify_cli(
        settings, tmp_path, capsys, folder, *options, "--snapshot-to", str(snap)
    )
    assert code == 0, err
    assert (snap / "snapshot.json").is_file()
    return snap, written


@in_this_process
def test_a_missing_snapshot_or_a_line_that_is_not_json_is_one_clear_error(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], session: Any
) -> None:
    from monitor.verify.spark_job import run_job

    seed(settings, make_rows(5, step=STEP))
    folder = export_table(settings, tmp_path / "exports", '{"Item": {"PK": {"S": "secret"')
    with pytest.raises(MonitorError, match="snapshot.json does not exist") as caught:
        run_job(session, settings, str(folder), str(tmp_path / "nowhere"))
    assert caught.value.exit_code == EXIT_USAGE
    snap, _ = take_snapshot(settings, tmp_path, capsys, folder)
    with pytest.raises(MonitorError, match="1 line\\(s\\) are not JSON") as caught:
        run_job(session, settings, str(folder), str(snap))
    assert "secret" not in str(caught.value) and caught.value.exit_code == EXIT_USAGE


@in_this_process
def test_a_data_file_that_does_not_match_its_md5_checksum_is_one_clear_error(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], session: Any
) -> None:
    from monitor.verify.spark_job import run_job

    seed(settings, make_rows(30, step=STEP))
    folder = export_table(settings, tmp_path / "exports")
    snap, _ = take_snapshot(settings, tmp_path, capsys, folder)
    assert run_job(session, settings, str(folder), str(snap)).ok
    # Compared, the partial file would read as one item missing from DynamoDB.
    damaged = drop_last_line(folder)
    with pytest.raises(MonitorError) as caught:
        run_job(session, settings, str(folder), str(snap))
    assert str(caught.value) == (
        f"export {folder}: data/{damaged.name} does not match its md5Checksum in"
        " manifest-files.json (damaged or partial)"
    )
    assert caught.value.exit_code == EXIT_USAGE
    damaged.unlink()
    with pytest.raises(MonitorError) as caught:
        run_job(session, settings, str(folder), str(snap))
    assert str(caught.value) == (
        f"export {folder}: data/{damaged.name} is listed in manifest-files.json but missing"
    )

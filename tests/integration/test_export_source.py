"""An export is read from a local folder and from S3 (moto over HTTP) alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from monitor.errors import StoreUnavailable
from monitor.verify.export_manifest import ExportError
from monitor.verify.export_source import open_local, open_s3
from tests.export_writer import upload_folder, write_export

EXPORT_TIME = datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


def items(count: int) -> list[dict[str, dict[str, str]]]:
    return [
        {
            "PK": {"S": f"LOG#S{i % 3}#2026-01-01"},
            "SK": {"S": f"2026-01-01T00:00:00.000000Z#{i}"},
            "LogId": {"N": str(i)},
            "WriteStatus": {"S": "Committed"},
        }
        for i in range(count)
    ]


def test_a_local_export_lists_its_data_files(tmp_path: Path) -> None:
    folder = write_export(tmp_path, items(10), export_time=EXPORT_TIME, files=3)
    export = anyio.run(open_local, folder)
    assert export.manifest.export_time == EXPORT_TIME
    assert export.manifest.item_count == 10
    assert sum(f.item_count or 0 for f in export.manifest.files) == 10
    assert all(p.is_file() and p.parent == folder / "data" for p in export.data_paths)
    assert folder.as_posix().endswith(f"AWSDynamoDB/{export.manifest.export_id}")


def test_an_s3_export_is_copied_and_reads_the_same(tmp_path: Path, s3_server: str) -> None:
    folder = write_export(tmp_path / "src", items(25), export_time=EXPORT_TIME, files=4)
    url = anyio.run(upload_folder, tmp_path / "src", folder, "exports-bucket", s3_server)
    seen: list[tuple[int, int]] = []
    export = anyio.run(
        lambda: open_s3(
            url,
            tmp_path / "staging",
            region="us-east-1",
            endpoint_url=s3_server,
            request_timeout=5,
            progress=lambda done, total: seen.append((done, total)),
        )
    )
    local = anyio.run(open_local, folder)
    assert export.manifest == local.manifest
    assert [p.read_bytes() for p in export.data_paths] == [p.read_bytes() for p in local.data_paths]
    assert seen[-1] == (4, 4)


def test_an_s3_folder_without_an_export_is_one_clear_error(tmp_path: Path, s3_server: str) -> None:
    folder = write_export(tmp_path / "src", items(2), export_time=EXPORT_TIME, files=1)
    url = anyio.run(upload_folder, tmp_path / "src", folder, "exports-bucket", s3_server)
    with pytest.raises(ExportError, match="no manifest-summary.json here"):
        anyio.run(
            lambda: open_s3(
                url + "nothing/",
                tmp_path / "st",
                region="us-east-1",
                endpoint_url=s3_server,
                request_timeout=5,
            )
        )


def test_an_unreachable_s3_endpoint_is_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="S3 unavailable"):
        anyio.run(
            lambda: open_s3(
                "s3://exports-bucket/x/",
                tmp_path,
                region="us-east-1",
                endpoint_url="http://127.0.0.1:9",
                request_timeout=1,
                # One retry, then the verdict: the default's backoff waits would be seconds.
                attempts=2,
            )
        )


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("no_summary", "no manifest-summary.json here"),
        ("no_files", "no manifest-files.json here"),
        ("missing_data", "is listed in manifest-files.json but missing"),
        ("bad_summary", "manifest-summary.json: not JSON"),
    ],
)
def test_a_damaged_local_export_is_one_clear_error(tmp_path: Path, damage: str, says: str) -> None:
    folder = write_export(tmp_path, items(3), export_time=EXPORT_TIME, files=2)
    if damage == "no_summary":
        (folder / "manifest-summary.json").unlink()
    elif damage == "no_files":
        (folder / "manifest-files.json").unlink()
    elif damage == "missing_data":
        next((folder / "data").iterdir()).unlink()
    else:
        (folder / "manifest-summary.json").write_text("{not json")
    with pytest.raises(ExportError, match=says):
        anyio.run(open_local, folder)
    with pytest.raises(ExportError, match="is not a folder"):
        anyio.run(open_local, tmp_path / "nowhere")

"""Writes DynamoDB point-in-time exports in the documented layout, for the tests and the bench.

    <root>/[<prefix>/]AWSDynamoDB/<export id>/manifest-summary.json
                                           /manifest-files.json      (JSON lines)
                                           /data/<name>.json.gz      ({"Item": {...}} per line)

Items go to a data file by a hash of their partition key, as AWS groups them by partition.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import secrets
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

REGION = "us-east-1"
ACCOUNT = "123456789012"


def iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_export(
    root: Path,
    items: Iterable[Mapping[str, Any]],
    *,
    export_time: datetime,
    table: str = "IntegrationLogs",
    partition_key: str = "PK",
    files: int = 4,
    prefix: str = "exports",
    lines: Iterable[str] = (),
) -> Path:
    """Write an export of `items` (DynamoDB wire format); returns the export's own folder.

    `lines` are appended verbatim to the first data file (malformed input for the tests).
    """
    folder, export_id = new_export_folder(root, export_time, prefix)
    names = [
        base64.b32encode(secrets.token_bytes(16)).decode().lower().rstrip("=") for _ in range(files)
    ]
    counts = [0] * files
    with contextlib.ExitStack() as stack:
        outs = [
            stack.enter_context(gzip.open(folder / "data" / f"{n}.json.gz", "wt", compresslevel=1))
            for n in names
        ]
        for item in items:
            pk = item.get(partition_key, {}).get("S", "")
            index = zlib.crc32(str(pk).encode()) % files
            outs[index].write(json.dumps({"Item": item}, separators=(",", ":")) + "\n")
            counts[index] += 1
        for line in lines:
            outs[0].write(line + "\n")
    write_manifests(
        folder,
        [(f"{n}.json.gz", c) for n, c in zip(names, counts, strict=True)],
        export_id=export_id,
        export_time=export_time,
        table=table,
        prefix=prefix,
    )
    return folder


def new_export_folder(
    root: Path, export_time: datetime, prefix: str = "exports"
) -> tuple[Path, str]:
    """A fresh `<root>/<prefix>/AWSDynamoDB/<export id>/data/`; (the export folder, its id)."""
    export_id = f"{int(export_time.timestamp() * 1000):014d}-{secrets.token_hex(4)}"
    base = f"{prefix}/AWSDynamoDB/{export_id}" if prefix else f"AWSDynamoDB/{export_id}"
    (root / base / "data").mkdir(parents=True)
    return root / base, export_id


def write_manifests(
    folder: Path,
    files: Sequence[tuple[str, int]],
    *,
    export_id: str,
    export_time: datetime,
    table: str = "IntegrationLogs",
    prefix: str = "exports",
) -> None:
    """The two manifests of an export whose data files (name, item count) are in `folder/data`."""
    base = f"{prefix}/AWSDynamoDB/{export_id}" if prefix else f"AWSDynamoDB/{export_id}"
    with (folder / "manifest-files.json").open("w") as manifest:
        for name, count in files:
            data = (folder / "data" / name).read_bytes()
            entry = {
                "itemCount": count,
                "md5Checksum": base64.b64encode(hashlib.md5(data).digest()).decode(),
                "etag": hashlib.md5(data).hexdigest(),
                "dataFileS3Key": f"{base}/data/{name}",
            }
            manifest.write(json.dumps(entry) + "\n")
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    summary = {
        "version": "2020-06-30",
        "exportArn": f"{table_arn}/export/{export_id}",
        "startTime": iso_millis(export_time),
        "endTime": iso_millis(export_time),
        "tableArn": table_arn,
        "tableId": "12345a12-abcd-123a-ab12-1234abc12345",
        "exportTime": iso_millis(export_time),
        "s3Bucket": "exports-bucket",
        "s3Prefix": prefix or None,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{base}/manifest-files.json",
        "billedSizeBytes": 0,
        "itemCount": sum(c for _, c in files),
        "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT",
    }
    (folder / "manifest-summary.json").write_text(json.dumps(summary))
    (folder / "manifest-summary.checksum").write_text(
        hashlib.md5((folder / "manifest-summary.json").read_bytes()).hexdigest()
    )
    (folder / "_started").write_bytes(b"")


async def upload_folder(root: Path, folder: Path, bucket: str, endpoint_url: str) -> str:
    """Upload everything under `folder` to `bucket`, keys relative to `root`; the folder's URL."""
    from monitor.stores.aws_session import new_session

    async with new_session().create_client(
        "s3", region_name=REGION, endpoint_url=endpoint_url
    ) as s3:
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            await s3.create_bucket(Bucket=bucket)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):  # noqa: ASYNC240
            key = path.relative_to(root).as_posix()
            await s3.put_object(Bucket=bucket, Key=key, Body=await anyio.Path(path).read_bytes())
    return f"s3://{bucket}/{folder.relative_to(root).as_posix()}/"


async def scan_table(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of a table, as ExportTableToPointInTime would copy them (wire format)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table}
    while True:
        page = await client.scan(**params)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

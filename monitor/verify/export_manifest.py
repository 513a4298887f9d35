"""The manifest of a DynamoDB point-in-time export, read and checked (pure).

AWS writes an export under `<prefix>/AWSDynamoDB/<export id>/`: `manifest-summary.json` (one JSON
object: the export's time, format, item count) and `manifest-files.json` (one JSON object per
line: a data file's S3 key, its item count and the base64 MD5 of its bytes, `md5Checksum`). The data file keys are full S3 keys; they are
resolved against the export's own folder, so a copy of that folder anywhere (a local directory,
another bucket or prefix) reads the same. Every problem is one line naming the file and what is
wrong, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.errors import UsageError

SUMMARY = "manifest-summary.json"
FILES = "manifest-files.json"
#: The output format this reader understands. ION exports are refused with a clear message: the
#: one Python reader (amazon-ion, with its C extension) parses ~5k items/s on this 2-core
#: machine, 10M items in over half an hour, about 30x slower than DuckDB reads DynamoDB JSON.
DYNAMODB_JSON = "DYNAMODB_JSON"


class ExportError(UsageError):
    """The export folder is not a readable DynamoDB export (exit 2: fix the argument)."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"export {where}: {problem}")


def missing_data_file(where: str, data: DataFile) -> ExportError:
    return ExportError(where, f"{data.path} is listed in {FILES} but missing")


def damaged_data_file(where: str, data: DataFile) -> ExportError:
    return ExportError(
        where, f"{data.path} does not match its md5Checksum in {FILES} (damaged or partial)"
    )


@dataclass(frozen=True, slots=True)
class DataFile:
    #: Relative to the export's folder, e.g. `data/3kcdeio3pe7wtcisryjhq4xlia.json.gz`.
    path: str
    item_count: int | None
    #: The base64 MD5 of the file's bytes (`md5Checksum`), when the manifest gives one.
    md5: str | None = None


@dataclass(frozen=True, slots=True)
class ExportManifest:
    export_arn: str
    export_time: datetime
    #: The items the export says it holds (None when the summary does not say).
    item_count: int | None
    files: tuple[DataFile, ...]

    @property
    def export_id(self) -> str:
        return export_id_of(self.export_arn)


def export_id_of(arn: str) -> str:
    """`arn:aws:dynamodb:...:table/T/export/01234567890123-a1b2c3d4` -> `01234567890123-a1b2c3d4`."""
    return arn.rsplit("/", 1)[-1]


def parse_summary(text: str | bytes, where: str) -> tuple[str, datetime, int | None, str]:
    """(export ARN, export time, item count, manifest-files key) of `manifest-summary.json`."""
    data = _json_object(text, f"{where}/{SUMMARY}")
    here = f"{where}/{SUMMARY}"
    output_format = data.get("outputFormat", DYNAMODB_JSON)
    if output_format != DYNAMODB_JSON:
        raise ExportError(
            here,
            f"outputFormat is {output_format!r}; only {DYNAMODB_JSON} exports are read"
            f" (export again with --export-format {DYNAMODB_JSON})",
        )
    export_type = data.get("exportType", "FULL_EXPORT")
    if export_type != "FULL_EXPORT":
        raise ExportError(here, f"exportType is {export_type!r}; only a full export is read")
    arn = data.get("exportArn")
    if not isinstance(arn, str) or "/export/" not in arn:
        raise ExportError(here, "exportArn is missing or not an export ARN")
    export_time = _timestamp(data.get("exportTime"), here, "exportTime")
    count = data.get("itemCount")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
        raise ExportError(here, "itemCount is not a whole number")
    files_key = data.get("manifestFilesS3Key", FILES)
    if not isinstance(files_key, str):
        raise ExportError(here, "manifestFilesS3Key is not a string")
    return arn, export_time, count, files_key


def parse_files(text: str | bytes, where: str, export_id: str) -> tuple[DataFile, ...]:
    """The data files listed in `manifest-files.json` (JSON lines), resolved to relative paths."""
    here = f"{where}/{FILES}"
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    files: list[DataFile] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        entry = _json_object(line, f"{here} line {number}")
        key = entry.get("dataFileS3Key")
        if not isinstance(key, str) or not key:
            raise ExportError(f"{here} line {number}", "dataFileS3Key is missing")
        count = entry.get("itemCount")
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 0
        ):
            raise ExportError(f"{here} line {number}", "itemCount is not a whole number")
        md5 = _md5_checksum(entry.get("md5Checksum"), f"{here} line {number}")
        files.append(DataFile(data_file_path(key, export_id, f"{here} line {number}"), count, md5))
    return tuple(files)


def _md5_checksum(value: Any, where: str) -> str | None:
    """`md5Checksum` as given (base64 of the 16 bytes of an MD5), None when absent."""
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except binascii.Error:
        digest = b""
    if len(digest) != 16:
        raise ExportError(where, "md5Checksum is not the base64 of an MD5 digest")
    return str(value)


def md5_checksum(digest: bytes) -> str:
    """An MD5 digest as `md5Checksum` writes it."""
    return base64.b64encode(digest).decode("ascii")


def data_file_path(key: str, export_id: str, where: str) -> str:
    """A data file's S3 key relative to the export's folder: `data/<name>.json.gz`.

    The key is `[<prefix>/]AWSDynamoDB/<export id>/data/<name>`; a key already relative
    (`data/<name>`) is taken as it is. Anything that would leave the folder is refused.
    """
    marker = f"AWSDynamoDB/{export_id}/"
    at = key.find(marker)
    relative = key[at + len(marker) :] if at >= 0 else key
    normal = posixpath.normpath(relative)
    if (
        not relative.startswith("data/")
        or normal != relative
        or normal.startswith("../")
        or "/../" in f"/{normal}/"
    ):
        raise ExportError(where, f"data file key {key!r} is not under data/ of export {export_id}")
    return relative


def _json_object(text: str | bytes, where: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(
            where, f"not JSON ({type(exc).__name__} at position {_pos(exc)})"
        ) from None
    if not isinstance(data, dict):
        raise ExportError(where, "not a JSON object")
    return data


def _pos(exc: Exception) -> int:
    return getattr(exc, "pos", getattr(exc, "start", 0))


def _timestamp(value: Any, where: str, name: str) -> datetime:
    if not isinstance(value, str):
        raise ExportError(where, f"{name} is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ExportError(where, f"{name} {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise ExportError(where, f"{name} {value!r} has no time zone")
    return moment.astimezone(UTC)

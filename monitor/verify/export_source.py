"""Where an export is read from: a local folder, or `s3://bucket/prefix/AWSDynamoDB/<id>/`.

Either way the result is a local folder holding the manifests and the data files the manifest
lists; an S3 export is first copied into the staging folder (the comparison engines read local
files at disk speed, and a copy is read again for free if the run is repeated). Each data file
whose manifest entry has an `md5Checksum` is checked against it before anything compares it: a
truncated or damaged copy would otherwise read as items missing from DynamoDB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from monitor.verify.export_manifest import (
    FILES,
    SUMMARY,
    DataFile,
    ExportError,
    ExportManifest,
    damaged_data_file,
    export_id_of,
    md5_checksum,
    missing_data_file,
    parse_files,
    parse_summary,
)


@dataclass(frozen=True, slots=True)
class LocalExport:
    """An export whose every listed data file is on the local disk."""

    location: str
    folder: Path
    manifest: ExportManifest

    @property
    def data_paths(self) -> list[Path]:
        return [self.folder / f.path for f in self.manifest.files]


def manifest_from(summary: bytes | None, files: bytes | None, where: str) -> ExportManifest:
    if summary is None:
        raise ExportError(
            where, f"no {SUMMARY} here; give the export's own folder (…/AWSDynamoDB/<export id>/)"
        )
    arn, export_time, count, _ = parse_summary(summary, where)
    if files is None:
        raise ExportError(where, f"no {FILES} here")
    listed = parse_files(files, where, export_id_of(arn))
    return ExportManifest(arn, export_time, count, listed)


async def open_local(folder: Path, *, checked: bool = True) -> LocalExport:
    """The export in `folder`; `checked=False` leaves its checksums to the caller
    (`check_checksums`), to run while it reads."""
    where = str(folder)
    if not await anyio.Path(folder).is_dir():
        raise ExportError(where, "is not a folder")
    summary = await _read_optional(folder / SUMMARY)
    files = await _read_optional(folder / FILES)
    manifest = manifest_from(summary, files, where)
    for data in manifest.files:
        if not await anyio.Path(folder / data.path).is_file():
            raise missing_data_file(where, data)
    if checked:
        await anyio.to_thread.run_sync(check_checksums, where, folder, manifest.files)
    return LocalExport(where, folder, manifest)


async def open_s3(
    url: str,
    staging: Path,
    *,
    region: str,
    endpoint_url: str,
    request_timeout: float,
    progress: Callable[[int, int], None] | None = None,
    data: bool = True,
    attempts: int | None = None,
    checked: bool = True,
) -> LocalExport:
    """Copy the export at `url` into `staging/<export id>/`; the local export.

    `data=False` reads the manifests alone (the data files are left in S3); `attempts` per
    request, else the adapter's default; `checked` as `open_local`'s."""
    from monitor.stores.s3_export import ATTEMPTS, S3Folder

    where = url.rstrip("/")
    async with S3Folder.open(
        url,
        region=region,
        endpoint_url=endpoint_url,
        request_timeout=request_timeout,
        attempts=ATTEMPTS if attempts is None else attempts,
    ) as s3:
        summary = await s3.read(SUMMARY)
        files = await s3.read(FILES)
        manifest = manifest_from(summary, files, where)
        folder = staging / manifest.export_id
        total = len(manifest.files)
        if not data:
            return LocalExport(where, folder, manifest)
        await s3.download(
            [f.path for f in manifest.files],
            folder,
            None if progress is None else (lambda done: progress(done, total)),
        )
    if checked:
        await anyio.to_thread.run_sync(check_checksums, where, folder, manifest.files)
    return LocalExport(where, folder, manifest)


_BLOCK = 1 << 22


def check_checksums(where: str, folder: Path, files: tuple[DataFile, ...]) -> None:
    """Each data file with an `md5Checksum` hashes to it; the first that does not is one line."""
    for data in files:
        if data.md5 is None:
            continue
        digest = hashlib.md5(usedforsecurity=False)
        with (folder / data.path).open("rb") as stream:
            while block := stream.read(_BLOCK):
                digest.update(block)
        if md5_checksum(digest.digest()) != data.md5:
            raise damaged_data_file(where, data)


async def _read_optional(path: Path) -> bytes | None:
    try:
        return await anyio.Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ExportError(
            str(path.parent), f"cannot read {path.name} ({type(exc).__name__})"
        ) from None

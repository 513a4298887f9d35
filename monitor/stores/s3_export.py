"""S3 adapter (aiobotocore): copy a DynamoDB export's folder from S3 to a local staging folder.

Only the export's own objects are read: its two manifests, then exactly the data files
`manifest-files.json` lists (never a listing of the bucket), a few at a time, each streamed to
disk in chunks so memory does not grow with a file's size. Nothing is ever written to S3.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from monitor.errors import StoreError, StoreUnavailable
from monitor.stores.aws_session import new_session

log = logging.getLogger(__name__)

STORE = "S3"
#: Attempts per request (botocore's standard mode: capped exponential backoff with jitter).
ATTEMPTS = 5
_CHUNK = 1 << 20
#: Data files downloaded at once: S3 serves each at a few hundred MB/s; the disk is the limit.
_CONCURRENCY = 8


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> (`bucket`, `some/prefix`)."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"{url!r} names no bucket (s3://BUCKET/PREFIX)")
    return bucket, prefix.strip("/")


class S3Folder:
    """One folder of a bucket, read object by object."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        region: str,
        endpoint_url: str,
        request_timeout: float,
        attempts: int = ATTEMPTS,
    ) -> AsyncIterator[S3Folder]:
        bucket, prefix = split_s3_url(url)
        config = AioConfig(
            connect_timeout=request_timeout,
            read_timeout=request_timeout,
            retries={"max_attempts": attempts, "mode": "standard"},
            max_pool_connections=_CONCURRENCY * 2,
        )
        async with new_session().create_client(
            "s3", region_name=region, endpoint_url=endpoint_url or None, config=config
        ) as client:
            yield cls(client, bucket, prefix)

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def url(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self._key(relative)}"

    async def read(self, relative: str) -> bytes | None:
        """A small object's bytes (a manifest), or None when it does not exist."""
        async with _translated(self.url(relative)):
            try:
                response = await self._client.get_object(
                    Bucket=self.bucket, Key=self._key(relative)
                )
            except ClientError as exc:
                if _code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
                    return None
                raise
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data

    async def download(
        self,
        relatives: Sequence[str],
        into: Path,
        progress: Callable[[int], None] | None = None,
    ) -> list[Path]:
        """Each object to `into / relative`, `_CONCURRENCY` at a time; the local paths."""
        limiter = anyio.CapacityLimiter(_CONCURRENCY)
        done: list[Path] = []

        async def one(relative: str) -> None:
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            async with limiter, _translated(self.url(relative)):
                try:
                    response = await self._client.get_object(
                        Bucket=self.bucket, Key=self._key(relative)
                    )
                except ClientError as exc:
                    if _code(exc) in ("NoSuchKey", "404"):
                        raise StoreError(
                            STORE, f"{self.url(relative)} is listed in the manifest but missing"
                        ) from None
                    raise
                async with response["Body"] as body:
                    with target.open("wb") as out:
                        while chunk := await body.read(_CHUNK):
                            out.write(chunk)
            done.append(target)
            if progress is not None:
                progress(len(done))

        async with anyio.create_task_group() as group:
            for relative in relatives:
                group.start_soon(one, relative)
        return [into / r for r in relatives]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    try:
        yield
    except EndpointConnectionError as exc:
        raise StoreUnavailable(STORE, f"cannot reach the endpoint for {what} ({exc})") from None
    except ClientError as exc:
        code = _code(exc)
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise StoreError(STORE, f"{what}: {code}; check the AWS credentials") from None
        raise StoreUnavailable(STORE, f"{what}: {code or type(exc).__name__}") from None
    except (BotoCoreError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(STORE, f"{what}: {type(exc).__name__}") from None

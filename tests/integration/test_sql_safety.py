"""Hostile configuration against a real PostgreSQL: values that would escape their literal,
identifiers with a trailing newline, derived names too long, DSNs that do not parse.

The database runs with `standard_conforming_strings = off` where it matters (a setting a DBA
may have), under which a backslash in a plain '...' literal escapes the quote after it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.setup import run_setup
from monitor.stores.postgres import PostgresStore, execute_one
from monitor.writer.bulk import copy_rows
from monitor.writer.items import DEFAULT_COLUMNS
from tests.conftest import make_settings
from tests.integration.scenario import BASE_TIME, make_rows, write_config

#: Ends the literal under standard_conforming_strings = off, then runs a statement of its own.
STATEMENT_INJECTION = "\\'; CREATE TABLE injected(); --"
#: Ends the literal, then makes the pending predicate true for every row.
PREDICATE_INJECTION = "\\' OR true --"


def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    async def go() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    return anyio.run(go)


def non_conforming(database: str) -> str:
    """The test's database with standard_conforming_strings = off for every new session."""
    name = fetchval(database, "SELECT current_database()")
    fetchval(database, f'ALTER DATABASE "{name}" SET standard_conforming_strings = off')
    assert fetchval(database, "SHOW standard_conforming_strings") == "off"
    return database


def with_pending(database: str, endpoint: str, pending: str) -> Settings:
    return make_settings(database, endpoint, mapping={"status_values": {"pending": pending}})


@pytest.mark.parametrize("pending", [STATEMENT_INJECTION, PREDICATE_INJECTION, "O'Brien \\ x"])
def test_a_pending_value_never_escapes_its_literal(
    database: str, dynamo_endpoint: str, pending: str
) -> None:
    dsn = non_conforming(database)
    settings = with_pending(dsn, dynamo_endpoint, pending)
    rows = make_rows(12, step=timedelta(seconds=1))
    rows[3]["write_status"] = pending

    async def go() -> list[Any]:
        await run_setup(settings)
        conn = await asyncpg.connect(dsn)
        try:
            await copy_rows(conn, "integration_logs", DEFAULT_COLUMNS, rows)
        finally:
            await conn.close()
        async with PostgresStore.open(settings.postgres, settings.table_mapping()) as sql:
            found = await sql.pending_rows(BASE_TIME, BASE_TIME + timedelta(hours=1))
        return [row["log_id"] for row in found]

    assert anyio.run(go) == [rows[3]["log_id"]]  # only the row whose status is that text
    assert fetchval(dsn, "SELECT to_regclass('injected')") is None


def test_ddl_is_never_sent_as_a_multi_statement_string(database: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(database)
        try:
            with pytest.raises(asyncpg.PostgresSyntaxError, match="multiple commands"):
                await execute_one(conn, "CREATE TABLE a (x int); CREATE TABLE b (x int)")
        finally:
            await conn.close()

    anyio.run(go)
    assert fetchval(database, "SELECT to_regclass('a')") is None


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_a_trailing_newline_in_an_identifier_is_refused_before_anything_is_created(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", settings)
    config.write_text(
        config.read_text().replace("[postgres]\n", '[postgres]\nstate_schema = "dm2\\n"\n')
    )
    code, err = run_cli(capsys, "setup", "--config", str(config))
    assert code == 2
    assert "postgres.state_schema" in err and "unexpected" not in err
    dsn = settings.postgres.dsn.get_secret_value()
    assert fetchval(dsn, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'dm2%'") == 0
    assert fetchval(dsn, "SELECT to_regclass('integration_logs')") is None


def test_a_long_table_name_gets_every_index_before_anything_is_created(
    database: str, dynamo_endpoint: str
) -> None:
    table = "t" * 55
    settings = make_settings(database, dynamo_endpoint, mapping={"sql_table": table})

    async def go() -> tuple[list[str], list[str]]:
        first = await run_setup(settings)
        second = await run_setup(settings)
        return first.created, second.created

    created, again = anyio.run(go)
    names = [c.removeprefix("index ") for c in created if c.startswith("index ")]
    assert len(names) == 3 and all(len(n.encode()) <= 63 for n in names)
    assert len(set(names)) == 3 and all(n.startswith("t" * 20) for n in names)
    present = fetchval(
        database, "SELECT array_agg(indexname::text) FROM pg_indexes WHERE tablename = $1", table
    )
    assert set(names) <= set(present)
    assert not any(c.startswith("index ") for c in again)  # the same names the second time


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://monitor:hunter2@localhost:notaport/loans",
        "postgres:/oops",
        "postgresql://monitor:hunter2@db:99999/loans",
        "host=localhost password=hunter2",
    ],
)
def test_a_dsn_that_does_not_parse_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dsn: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[postgres]\ndsn = "{dsn}"\n')
    code, err = run_cli(capsys, "check", "counts", "--config", str(config))
    assert code == 2
    assert "postgres.dsn" in err and "hunter2" not in err and "unexpected" not in err


def test_an_unknown_host_is_named_in_the_store_error(
    dynamo_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[postgres]\ndsn = "postgresql://monitor:hunter2@no-such-host.invalid:6543/loans"\n'
        'connect_timeout = "3s"\n'
        f'[dynamodb]\nendpoint_url = "{dynamo_endpoint}"\n'
    )
    code, err = run_cli(capsys, "check", "counts", "--config", str(config))
    assert code == 3
    assert "no-such-host.invalid:6543" in err and "hunter2" not in err
    assert "unexpected" not in err

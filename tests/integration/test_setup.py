"""`setup` reaches both stores before it changes anything, and says what each side holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
from botocore.exceptions import ReadTimeoutError

from monitor.cli import main
from monitor.config import Settings
from monitor.setup import SetupResult, setup_dynamodb
from monitor.stores.dynamodb import DynamoStore, RetryPolicy
from tests.conftest import make_settings
from tests.http_server import serve_http
from tests.integration.scenario import write_config


def sql_objects(dsn: str) -> tuple[bool, bool]:
    async def read() -> tuple[bool, bool]:
        conn = await asyncpg.connect(dsn)
        try:
            table = await conn.fetchval("SELECT to_regclass('integration_logs') IS NOT NULL")
            schema = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'dualwrite_monitor')"
            )
            return bool(table), bool(schema)
        finally:
            await conn.close()

    return anyio.run(read)


def test_setup_without_aws_credentials_creates_nothing_and_says_why(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = write_config(tmp_path / "c.toml", settings)
    code = main(["setup", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 3
    assert "no AWS credentials" in err and err.count("\n") == 1, err
    assert sql_objects(settings.postgres.dsn.get_secret_value()) == (False, False)


@contextmanager
def dynamodb_without_create_permission() -> Iterator[str]:
    """A DynamoDB-API endpoint where the table does not exist and creating it is denied (as an
    IAM policy allowing only reads would answer)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            target = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
            code = (
                "ResourceNotFoundException"
                if target == "DescribeTable"
                else "AccessDeniedException"
            )
            body = json.dumps(
                {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "no"}
            )
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serve_http(Handler) as url:
        yield url


def test_setup_that_fails_on_dynamodb_after_sql_says_what_sql_holds(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", settings)
    with dynamodb_without_create_permission() as endpoint:
        config.write_text(config.read_text().replace(settings.dynamodb.endpoint_url, endpoint))
        code = main(["setup", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "AccessDeniedException" in err and err.count("\n") == 1, err
    assert "PostgreSQL side is set up" in err and "table integration_logs" in err, err


class CreateAnswerLost:
    """The DynamoDB client, whose first CreateTable succeeds but whose answer never arrives
    (a read timeout): the adapter retries, and DynamoDB refuses the retry (the table exists)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def create_table(self, **params: Any) -> Any:
        answer = await self._client.create_table(**params)
        if not self.lost:
            self.lost += 1
            raise ReadTimeoutError(endpoint_url="http://dynamodb")
        return answer


@pytest.mark.services
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_create_table_whose_answer_was_lost_still_sets_the_table_up(
    database: str, dynamo_endpoint: str, anyio_backend: str
) -> None:
    settings = make_settings(database, dynamo_endpoint)
    async with DynamoStore.open(settings.dynamodb, settings.table_mapping()) as plain:
        lossy = CreateAnswerLost(plain.client)
        dynamo = DynamoStore(
            lossy, settings.dynamodb, plain.mapping, retry=RetryPolicy(attempts=3, base_delay=0)
        )
        result = SetupResult()
        await setup_dynamodb(dynamo, result, None)
        assert lossy.lost == 1
        assert f"DynamoDB table {settings.dynamodb.table}" in result.created

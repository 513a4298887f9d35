"""Fixtures: real local servers, started once per session, each test in a clean state.

PostgreSQL: one throwaway cluster; each test gets its own fresh database.
DynamoDB: one moto server (or DynamoDB Local with DDB_BACKEND=ddblocal), reset between tests.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.config import Settings, settings_from_dict
from monitor.local import LocalDynamo, LocalPostgres, local_aws_env

_databases = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    server = LocalPostgres()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def dynamo_server() -> Iterator[LocalDynamo]:
    backend: Any = os.environ.get("DDB_BACKEND", "moto")
    server = LocalDynamo(backend)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True, scope="session")
def _aws_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in local_aws_env()}
    os.environ.update(local_aws_env())
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def database(pg_server: LocalPostgres) -> Iterator[str]:
    """A fresh, empty database for one test; its DSN."""
    name = f"t{os.getpid()}_{next(_databases)}"
    yield pg_server.create_database(name)
    pg_server.drop_database(name)


@pytest.fixture
def dynamo_endpoint(dynamo_server: LocalDynamo) -> Iterator[str]:
    dynamo_server.reset()
    yield dynamo_server.endpoint_url
    dynamo_server.reset()


def make_settings(dsn: str, endpoint: str, **sections: dict[str, Any]) -> Settings:
    data: dict[str, Any] = {
        "postgres": {"dsn": dsn, "statement_timeout": "10s", "connect_timeout": "3s"},
        "dynamodb": {"endpoint_url": endpoint, "request_timeout": "3s"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return settings_from_dict(data)


@pytest.fixture
def settings(database: str, dynamo_endpoint: str) -> Settings:
    return make_settings(database, dynamo_endpoint)

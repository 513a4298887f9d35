"""Fixtures: real local servers, started once per session, each test in a clean state.

PostgreSQL: one throwaway cluster; each test gets its own fresh database.
DynamoDB: one moto server (or DynamoDB Local with DDB_BACKEND=ddblocal), reset between tests.

Every test that uses either server is marked `services`, so `pytest -m "not services"` runs the
fast suite alone. Every async test fails if it leaves an asyncio task pending.
`backend`: a test body run twice, over the in-memory ports and over the real services.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from monitor import runtime
from monitor.config import Settings
from monitor.local import LocalDynamo, LocalPostgres, local_aws_env
from tests.backends import make_settings

# Speed is measured in bench/, never in tests: on a loaded 2-core CI machine a property test's
# example may take longer than hypothesis's default 200 ms deadline without anything being wrong.
hypothesis_settings.register_profile("monitor", deadline=None)
hypothesis_settings.load_profile("monitor")

_databases = itertools.count()
#: The fixtures that start a local server: a test using any of them (even through another
#: fixture) needs the services.
_SERVER_FIXTURES = frozenset({"pg_server", "dynamo_server", "s3_server"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(autouse=True)
def _no_pending_tasks(request: pytest.FixtureRequest) -> None:
    """An async test fails when it returns with a task it started still pending (kopf's
    `_no_asyncio_pending_tasks`): a leaked task outlives its test and hides a missing cancel."""
    item = request.node
    if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
        item.obj = _failing_on_pending_tasks(item.obj)


def _failing_on_pending_tasks(
    test: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    @functools.wraps(test)
    async def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            before = asyncio.all_tasks()
        except RuntimeError:  # not on asyncio (trio): nothing to check
            await test(*args, **kwargs)
            return
        await test(*args, **kwargs)
        for _ in range(3):  # let tasks that were just cancelled or finished settle
            await asyncio.sleep(0)
        left = asyncio.all_tasks() - before
        for task in left:
            task.cancel()
        if left:
            names = ", ".join(sorted(task.get_name() for task in left))
            pytest.fail(f"the test left {len(left)} asyncio task(s) pending: {names}")

    return wrapper


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


@pytest.fixture(scope="session")
def s3_server(dynamo_server: LocalDynamo) -> Iterator[str]:
    """An S3-API endpoint (moto serves every AWS API on one port): the DynamoDB one when it
    is moto, else a moto server of its own."""
    if dynamo_server.backend == "moto":
        yield dynamo_server.endpoint_url
        return
    server = LocalDynamo("moto")
    server.start()
    try:
        yield server.endpoint_url
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


@pytest.fixture
def settings(database: str, dynamo_endpoint: str) -> Settings:
    return make_settings(database, dynamo_endpoint)


@pytest.fixture(params=["memory", pytest.param("services", marks=pytest.mark.services)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stores a check test runs over: in memory (fast), then the real services."""
    from tests.backends import NOWHERE, Memory, Services

    if request.param == "services":
        return Services(request.getfixturevalue("settings"))
    memory = Memory(make_settings(*NOWHERE))
    monkeypatch.setattr(runtime, "open_context", memory.open_context)
    return memory

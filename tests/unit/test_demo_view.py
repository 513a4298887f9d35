"""The demo's view says what failed in one line, never just the type of a task group's wrapper."""

from __future__ import annotations

import io

import pytest

from monitor.demo.view import View
from monitor.errors import StoreError


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_failed_check_shows_the_store_error_inside_its_task_group() -> None:
    out = io.StringIO()
    view = View(stream=out, live=False, port=0)
    failure = ExceptionGroup("unhandled", [StoreError("DynamoDB", "Query failed: 500")])
    await view.on_report("orphans", None, failure)
    assert out.getvalue() == "check orphans  error: DynamoDB: Query failed: 500\n"


@pytest.mark.anyio
async def test_a_foreign_failure_is_named_by_its_type_without_its_text() -> None:
    out = io.StringIO()
    view = View(stream=out, live=False, port=0)
    await view.on_report("counts", None, ExceptionGroup("unhandled", [KeyError("LogId 17")]))
    assert "LogId 17" not in out.getvalue()
    assert out.getvalue() == "check counts   error: unexpected KeyError (see the daemon log)\n"

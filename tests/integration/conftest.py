"""Fixtures shared by the integration tests of one area."""

from __future__ import annotations

import pytest

from monitor.config import Settings
from tests.conftest import make_settings


@pytest.fixture
def verify_settings(database: str, dynamo_endpoint: str) -> Settings:
    return make_settings(
        database,
        dynamo_endpoint,
        verify={"window": "2h", "shard_windows": 3},
        checks={"counts": {"slice_records": 100}},
    )

"""How export_memory_limit is shared between the process and DuckDB's pool (pure)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import EXIT_USAGE, ConfigError
from monitor.verify.export_memory import (
    MINIMUM_POOL,
    PER_THREAD,
    POOL_SHARE,
    resident_bytes,
    share_memory,
    size_bytes,
)

MB = 10**6


def test_sizes_read_as_duckdb_reads_them() -> None:
    assert size_bytes("2GB") == 2 * 10**9
    assert size_bytes("512MiB") == 512 * 2**20
    assert size_bytes(" 1.5 GB ") == 1_500_000_000
    with pytest.raises(ValueError, match="is not a size"):
        size_bytes("2G")


@settings(deadline=None)  # a loaded machine must not fail it on time
@given(
    limit_mb=st.integers(min_value=1, max_value=64_000),
    resident_mb=st.integers(min_value=0, max_value=2_000),
    threads=st.integers(min_value=1, max_value=64),
)
def test_the_pool_and_what_it_leaves_fit_in_the_limit_or_the_limit_is_refused(
    limit_mb: int, resident_mb: int, threads: int
) -> None:
    try:
        share = share_memory(f"{limit_mb}MB", resident_mb * MB, threads)
    except ConfigError:
        free = limit_mb * MB - resident_mb * MB - threads * PER_THREAD
        assert free * POOL_SHARE < MINIMUM_POOL * threads
        return
    assert share.pool >= MINIMUM_POOL * threads
    outside = threads * PER_THREAD + share.pool * (1 - POOL_SHARE) / POOL_SHARE
    assert share.resident + outside + share.pool <= share.limit + 1


def test_a_limit_too_small_says_which_key_and_a_size_that_is_enough() -> None:
    with pytest.raises(ConfigError) as caught:
        share_memory("100MB", 90 * MB, 2)
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE and "verify.export_memory_limit" in message
    assert "'100MB' is too small" in message and "90 MB" in message
    enough = re.search(r"give at least (\d+MB)$", message)
    assert enough is not None, message
    assert share_memory(enough[1], 90 * MB, 2).pool >= MINIMUM_POOL * 2


def test_this_process_is_resident() -> None:
    data = bytearray(64 * MB)  # touched: resident
    data[::4096] = b"x" * len(range(0, len(data), 4096))
    assert resident_bytes() > 64 * MB

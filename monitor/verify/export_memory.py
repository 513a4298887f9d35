"""How `[verify] export_memory_limit` bounds the whole `verify --from-export` process.

DuckDB's `memory_limit` bounds its buffer manager only (tables, hash tables, sort runs, read
buffers). The process holds more: the interpreter with its libraries (~90 MB resident before
DuckDB reads a byte), and DuckDB's allocations outside its pool (per-thread decompression and
parse state, query intermediates, what its allocator keeps of freed blocks). Given the whole
limit, DuckDB took it all and the process ran about a third over. So the limit is shared: the
process's resident memory when the comparison starts is set aside, then a reserve per DuckDB
thread, and DuckDB's pool gets a share of the rest, the remainder covering what it allocates
outside the pool. The shares were measured on the bench's exports (`bench/verify_export.py`).
"""

from __future__ import annotations

import re
import resource
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import ConfigError

#: Outside the pool, per DuckDB thread: its decompression, line and parse buffers.
PER_THREAD = 16 << 20
#: DuckDB's pool's share of what is left; the rest covers its allocations outside the pool.
POOL_SHARE = 0.75
#: The least pool per thread DuckDB reads the export in (at 2 threads 96MB worked, 64MB ran
#: out of memory): a smaller share is refused.
MINIMUM_POOL = 48 << 20

_UNITS = {
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


def size_bytes(text: str) -> int:
    """`"2GB"` -> 2,000,000,000 and `"512MiB"` -> 536,870,912 (DuckDB's reading of them)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f'{text!r} is not a size such as "2GB" or "512MiB"')
    return int(float(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True, slots=True)
class MemoryShare:
    """The configured limit, what the process held before DuckDB worked, DuckDB's pool."""

    limit: int
    resident: int
    pool: int


def share_memory(limit: str, resident: int, threads: int) -> MemoryShare:
    """DuckDB's pool within `limit` for a process of `resident` bytes and `threads` threads."""
    total = size_bytes(limit)
    pool = int((total - resident - threads * PER_THREAD) * POOL_SHARE)
    if pool < MINIMUM_POOL * threads:
        needed = resident + threads * (PER_THREAD + int(MINIMUM_POOL / POOL_SHARE))
        raise ConfigError(
            "verify.export_memory_limit",
            f"{limit!r} is too small: the process holds {_mb(resident)} before DuckDB starts"
            f" and DuckDB's {threads} thread(s) need room; give at least"
            f" {-(-needed // 10**6)}MB",
        )
    return MemoryShare(total, resident, pool)


def resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * resource.getpagesize()


def _mb(value: int) -> str:
    return f"{value / 10**6:,.0f} MB"

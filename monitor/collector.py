"""The cyclic garbage collector paced for a process that parses many small objects.

A read of DynamoDB's items makes four tracked objects per item (`json` dicts), all alive until
their slice is diffed. At Python's default pace (a young collection every 700 allocations, the
survivors promoted, and a full collection each time the promoted objects grow by a quarter)
those collections walk the items again and again, and the whole heap of the libraries with
them: at 1M items, `verify` spent ~5 CPU s in `json` parsing its responses, 1.5 s with the
collector off (bench/verify.py --profile). Objects that live for the whole process (modules,
botocore's service model) are frozen out of the collector's walks, and the young generation is
collected every 50,000 allocations; cycles are still collected.
"""

from __future__ import annotations

import gc

#: Allocations between two young collections (Python's default: 700).
YOUNG_COLLECTION_EVERY = 50_000


_paced = False


def pace_collector() -> None:
    """Freeze what exists now (the imported libraries) and collect the young objects less often.

    Once per process: a later call (the CLI run again in one process, as the tests do) changes
    nothing, so what it allocated in between stays collectable."""
    global _paced
    if _paced:
        return
    _paced = True
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)

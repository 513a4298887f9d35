"""moto's requests take turns: its in-memory tables are not safe across threads (a GSI Query
sorting items while an UpdateItem removes their index key fails with an HTTP 500)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from monitor.local.dynamodb import SerializedApp


class Recorder:
    """A WSGI app that notes how many requests are inside it at once, body included."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self._guard = threading.Lock()

    def _enter(self) -> None:
        with self._guard:
            self.inside += 1
            self.most = max(self.most, self.inside)

    def _leave(self) -> None:
        with self._guard:
            self.inside -= 1

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self._enter()
        start_response("200 OK", [])

        def body() -> Iterator[bytes]:  # the response is still being made while it is read
            for part in (b"a", b"b", b"c"):
                os.sched_yield()
                yield part
            self._leave()

        return body()


def test_requests_never_overlap_even_while_a_body_is_read() -> None:
    recorder = Recorder()
    app = SerializedApp(recorder)
    bodies: list[bytes] = []

    def client() -> None:
        for _ in range(200):
            bodies.append(b"".join(app({}, lambda *_: None)))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert recorder.most == 1 and recorder.inside == 0
    assert bodies == [b"abc"] * 1600


def test_without_turns_the_recorder_does_see_overlap() -> None:
    # The recorder can tell: the same load straight on it overlaps.
    recorder = Recorder()
    barrier = threading.Barrier(2)

    def client() -> None:
        body = recorder({}, lambda *_: None)
        barrier.wait()  # both inside before either reads its body
        b"".join(body)

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert recorder.most == 2

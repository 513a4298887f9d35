"""A TCP proxy on 127.0.0.1 that a test turns into a fault: reset every connection, or blackhole
them (bytes accepted, nothing delivered, nothing closed: a hung server).

It runs its own event loop in a thread, so a command run in-process (`anyio.run`) or as a
subprocess talks to it alike. Faults are triggered by conditions, never by time: `fault_when`
arms a fault that fires as soon as the client sends bytes containing a marker (e.g. the text
of a statement), before those bytes reach the server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Fault = Literal["reset", "blackhole"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode: Fault | None = None
        self.fired = threading.Event()
        self._armed: tuple[bytes, Fault] | None = None
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._server: asyncio.Server
        self._thread = threading.Thread(target=self._run, daemon=True)

    # --- control (from the test's thread) ---------------------------------------------

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")

    def fault_when(self, marker: bytes, fault: Fault) -> None:
        """Fire `fault` when a client sends bytes containing `marker`."""
        self._armed = (marker, fault)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # --- the proxy (its own loop) -------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _fire(self, fault: Fault) -> None:
        self.mode = fault
        if fault == "reset":
            for writer in list(self._writers):
                writer.transport.abort()  # RST, as when the server's process dies
        self.fired.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            writer.transport.abort()  # the server is gone: new connections are refused too
            return
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer, upstream=True),
            self._pipe(up_reader, writer, upstream=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if upstream and self._armed is not None and self._armed[0] in data:
                    fault = self._armed[1]
                    self._armed = None
                    self._fire(fault)
                if self.mode == "blackhole":
                    continue  # swallowed: the peer waits forever
                if self.mode == "reset":
                    break
                writer.write(data)
                await writer.drain()
        finally:
            if self.mode != "blackhole":
                writer.transport.abort()


@contextmanager
def proxy_to(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()

"""A loopback TCP forwarder the test drives: cut the link (refuse and drop connections) and heal it
at a moment of the test's choosing, optionally holding new connections until released.

Toxiproxy would do the same from another process; in-process the heal can be tied to an event
inside the system under test (the watchdog retiring a client), which is what the race needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

__all__ = ["TcpForwarder"]

CHUNK = 65536


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TcpForwarder:
    """127.0.0.1:`port` -> 127.0.0.1:`upstream_port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = _free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._clients: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate = asyncio.Event()
        self._gate.set()
        self.accepted = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def open_clients(self) -> int:
        """Client connections currently open through the forwarder."""
        return sum(1 for w in self._clients if not w.is_closing())

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def partition(self) -> None:
        """Stop listening (new connections are refused) and drop every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._clients.clear()

    async def heal(self, *, hold: bool = False) -> None:
        """Listen again; with `hold`, accepted connections reach the server only after `release()`."""
        if hold:
            self._gate.clear()
        await self.start()

    def release(self) -> None:
        self._gate.set()

    async def close(self) -> None:
        await self.partition()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        self._clients.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._gate.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            self._writers.add(up_writer)
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            writer.transport.abort()
        finally:
            if task is not None:
                self._tasks.discard(task)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.transport.abort()

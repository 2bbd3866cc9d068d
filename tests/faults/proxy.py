"""A TCP proxy on loopback that a test can cut and restore: a real network fault, not a mock."""

from __future__ import annotations

import asyncio
import contextlib

from app.devstack.embedded import free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a TCP (host, port) or a Unix socket path."""

    def __init__(
        self, *, host: str | None = None, port: int | None = None, unix_path: str | None = None
    ) -> None:
        self.target_host = host
        self.target_port = port
        self.unix_path = unix_path
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Stops accepting and drops every open connection, like a network partition."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.unix_path:
                upstream_reader, upstream_writer = await asyncio.open_unix_connection(
                    self.unix_path
                )
            else:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        with contextlib.suppress(OSError, RuntimeError):
            sink.close()

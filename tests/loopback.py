"""Real HTTP servers on 127.0.0.1 for tests of network behaviour (timeouts, retries, breakers):
a mock can't time out, drop a connection or send a Retry-After the way a server does."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.devstack.embedded import free_port


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serves `app` with uvicorn on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("loopback server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class ScriptedUpstream:
    """Answers each request with the next scripted reply (the last one repeats) and records
    every request it received."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [Reply()]
        self.requests: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        await request.body()
        self.requests.append(dict(request.headers))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        response: Response = JSONResponse(
            {"id": "ch_scripted", "status": "succeeded"},
            status_code=reply.status,
            headers=reply.headers,
        )
        await response(scope, receive, send)


async def unresponsive_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers (a hung Redis, say); yields
    its port. Unlike a closed port, which refuses at once, this costs a client its timeout."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]

"""A development profiler: add `?profile=1` to any request to get a pyinstrument profile.

The request runs normally; instead of its response the client gets pyinstrument's HTML call
tree (async-aware, so awaits on the database show as such). Enabled by PROFILER_ENABLED
(default on in dev); the service refuses to start with it on in prod.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ProfilerMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["type"] != "http" or query.get("profile") != ["1"]:
            await self.app(scope, receive, send)
            return
        from pyinstrument import Profiler  # noqa: PLC0415 - a dev dependency, loaded on use

        async def discard(_: Message) -> None:
            return None

        profiler = Profiler(async_mode="enabled", interval=0.0005)
        profiler.start()
        try:
            await self.app(scope, receive, discard)
        finally:
            profiler.stop()
        await HTMLResponse(profiler.output_html())(scope, receive, send)

"""Pure-ASGI middleware: request ids, body size limits and security headers.

Pure ASGI (not `BaseHTTPMiddleware`) so streaming responses stay streamed and contextvars set
here are visible to the handler and every log line it writes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

import orjson
import structlog
from fastapi import FastAPI, params
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PROBLEM_JSON

REQUEST_ID_HEADER = "X-Request-ID"
# A client-supplied id is echoed into logs and headers, so only a short, plain token is trusted.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class RequestIdMiddleware:
    """Accepts a sane `X-Request-ID` or makes one, echoes it, and binds it to every log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodySizeLimitMiddleware:
    """Rejects bodies over a limit with 413, by `Content-Length` up front or while streaming.

    `overrides` gives specific paths (uploads) a different limit; the handler for those paths
    is expected to stream the body rather than buffer it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int,
        overrides: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.default = default
        self.overrides = overrides

    def _limit_for(self, path: str) -> int:
        for pattern, limit in self.overrides:
            if pattern.match(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(scope, send, 413, f"The request body is larger than {limit} bytes.")
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_limited, send)


class SecurityHeadersMiddleware:
    """Conservative browser-facing headers on every response (the API serves no HTML but /docs).

    `Cache-Control: no-store` is the default for API responses; routes that are safe to cache
    (public GETs with ETags) set their own.
    """

    _API_CSP = "default-src 'none'; frame-ancestors 'none'"
    # Swagger UI and ReDoc load their assets from a CDN and run inline scripts.
    _DOCS_CSP = (
        "default-src 'self'; img-src 'self' data: https:; "
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
        "worker-src 'self' blob:; frame-ancestors 'none'"
    )

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_docs = scope["path"] in {"/docs", "/redoc", "/docs/oauth2-redirect"}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
                headers.setdefault(
                    "Content-Security-Policy", self._DOCS_CSP if is_docs else self._API_CSP
                )
                headers.setdefault("Cache-Control", "no-store")
                if self.hsts:
                    headers.setdefault(
                        "Strict-Transport-Security", "max-age=63072000; includeSubDomains"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_problem(scope: Scope, send: Send, status: int, detail: str) -> None:
    """A problem response from middleware, before the app (and its handlers) is reached."""
    body = orjson.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "instance": scope["path"],
            "request_id": scope.get("state", {}).get("request_id"),
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FILE_TYPES = ("multipart/form-data",)


@dataclass(frozen=True)
class _BodyRoute:
    methods: frozenset[str]
    path: re.Pattern[str]
    accepted: tuple[str, ...]


def _accepted_media_types(route: APIRoute) -> tuple[str, ...]:
    field = route.body_field
    if field is None:
        return ()
    if isinstance(field.field_info, params.File):
        return FILE_TYPES
    if isinstance(field.field_info, params.Form):
        return FORM_TYPES
    return JSON_TYPES


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_accepted(media_type: str, accepted: tuple[str, ...]) -> bool:
    if media_type in accepted:
        return True
    # RFC 6839 structured syntax: application/problem+json and friends are JSON too.
    return (
        accepted == JSON_TYPES
        and media_type.startswith("application/")
        and media_type.endswith("+json")
    )


class ContentTypeMiddleware:
    """415 for a request body in a media type its route does not read.

    Without it, a JSON route given `text/plain` answers a confusing 422 ("input should be a
    valid dictionary"); the client's real mistake is the media type. The accepted types come
    from the routes themselves (JSON body, form, or file upload).
    """

    def __init__(self, app: ASGIApp, *, application: FastAPI) -> None:
        self.app = app
        self.application = application
        self._routes: list[_BodyRoute] | None = None

    def _table(self) -> list[_BodyRoute]:
        if self._routes is None:
            self._routes = [
                _BodyRoute(
                    methods=frozenset(context.methods or ()),
                    path=compile_path(context.path)[0],
                    accepted=_accepted_media_types(context.original_route),
                )
                for context in iter_route_contexts(self.application.routes)
                if isinstance(context.original_route, APIRoute) and context.path
            ]
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        if has_body:
            media_type = _media_type(headers.get("content-type", ""))
            for route in self._table():
                if scope["method"] in route.methods and route.path.match(scope["path"]):
                    if route.accepted and not _is_accepted(media_type, route.accepted):
                        detail = (
                            f"{media_type or 'A body without a content type'} is not accepted "
                            f"here; send {' or '.join(route.accepted)}."
                        )
                        await _send_problem(scope, send, 415, detail)
                        return
                    break
        await self.app(scope, receive, send)

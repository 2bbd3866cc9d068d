"""Errors as RFC 9457 problem details, rendered in exactly one place.

Domains raise `AppError` subclasses declared in their own `errors.py`; framework errors (unknown
route, wrong method, validation, database outages) are mapped here too, so every error response
of the service has the same shape:

    {"type", "title", "status", "detail", "instance", "request_id"}  (+ "errors" on a 422)
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar, cast

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"
# Problem type URIs name a documented kind of error. `.example` marks it as a placeholder:
# a service built from this template points it at its own error documentation.
PROBLEM_TYPE_BASE = "https://reference-backend.example/problems/"

logger = structlog.get_logger(__name__)


class AppError(Exception):
    """A failure the client can act on. Subclasses set `status`, `title` and a `slug`.

    `detail` is for humans and must never contain secrets or internal state; `extra` adds
    machine-readable members to the problem (RFC 9457 extension members).
    """

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str | None] = None
    # True for the rare error whose side effects must survive it (a detected token theft
    # revokes the session *and* answers 401): the unit of work commits before re-raising.
    persist_changes: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)

    @property
    def type(self) -> str:
        return f"{PROBLEM_TYPE_BASE}{self.slug}" if self.slug else "about:blank"


class NotFound(AppError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(AppError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class Unauthorized(AppError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(AppError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class ServiceUnavailable(AppError):
    status = 503
    title = "Service unavailable"
    slug = "service-unavailable"


class FieldError(BaseModel):
    field: str = Field(examples=["body.email"], description="Dotted path of the invalid input.")
    message: str = Field(examples=["value is not a valid email address"])
    type: str = Field(examples=["value_error"], description="Machine-readable error kind.")


class Problem(BaseModel):
    """An RFC 9457 problem details object, as every error response of this API carries."""

    type: str = Field(default="about:blank", description="URI naming the kind of problem.")
    title: str = Field(description="Short, stable summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong in this occurrence, for humans.")
    instance: str = Field(description="The path of the request that failed.")
    request_id: str | None = Field(default=None, description="Quote it when reporting a bug.")
    errors: list[FieldError] | None = Field(
        default=None, description="On 422 only: every invalid field, without its value."
    )


def problem_response(
    request: Request,
    *,
    status: int,
    detail: str,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring that a route may answer these problems."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # Only the location and the message: pydantic's error dicts also carry the rejected
    # `input` (and `ctx`), which may be a password or a token, so they are never echoed.
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "invalid value")),
            "type": str(error.get("type", "value_error")),
        }
        for error in exc.errors()
    ]


async def _handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(AppError, exc)
    return problem_response(
        request,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        type_=exc.type,
        headers=exc.headers,
        **exc.extra,
    )


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, exc)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(
        request, status=exc.status_code, detail=detail, headers=dict(exc.headers or {})
    )


async def _handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(RequestValidationError, exc)
    return problem_response(
        request,
        status=422,
        title="Unprocessable content",
        type_=f"{PROBLEM_TYPE_BASE}validation-error",
        detail="The request is invalid; see `errors` for each field.",
        errors=_field_errors(exc),
    )


async def _handle_integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A constraint the domain did not map to a specific error: still the client's conflict,
    # never a 500. The constraint name is logged, not returned (it describes the schema).
    orig = getattr(exc, "orig", None)
    logger.warning("unmapped_integrity_error", constraint=getattr(orig, "constraint_name", None))
    return problem_response(
        request,
        status=409,
        title="Conflict",
        type_=f"{PROBLEM_TYPE_BASE}conflict",
        detail="The request conflicts with the current state of the resource.",
    )


async def _handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """Database errors the driver doesn't classify (asyncpg's reach SQLAlchemy as a plain
    DBAPIError), sorted by PostgreSQL's SQLSTATE class:

    - 22 (data exception: out of range, invalid text): the client's input that validation let
      through, so a 422, and a warning so the missing validation gets added;
    - 40 (serialization failure, deadlock), 53 (insufficient resources), 57 (statement
      timeout, shutdown), 08 (connection): transient, so a 503 with Retry-After;
    - anything else is a bug: a 500.
    """
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
    if sqlstate.startswith("22"):
        logger.warning("unvalidated_data_error", sqlstate=sqlstate)
        return problem_response(
            request,
            status=422,
            title="Unprocessable content",
            type_=f"{PROBLEM_TYPE_BASE}validation-error",
            detail="A value is out of range or cannot be stored.",
        )
    if sqlstate[:2] in {"40", "53", "57", "08"}:
        logger.warning("transient_database_error", sqlstate=sqlstate)
        return problem_response(
            request,
            status=503,
            title="Service unavailable",
            type_=f"{PROBLEM_TYPE_BASE}service-unavailable",
            detail="The database could not complete the request. Try again shortly.",
            headers={"Retry-After": "1"},
        )
    logger.error("database_error", sqlstate=sqlstate, exc_info=exc)
    return _internal_error(request)


async def _handle_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database_unavailable", error=type(exc).__name__)
    return problem_response(
        request,
        status=503,
        title="Service unavailable",
        type_=f"{PROBLEM_TYPE_BASE}service-unavailable",
        detail="The database is unavailable. Try again shortly.",
        headers={"Retry-After": "5"},
    )


async def _handle_response_validation(request: Request, exc: Exception) -> JSONResponse:
    # The service broke its own contract: a bug, logged with the fields, answered as a 500.
    exc = cast(ResponseValidationError, exc)
    logger.error(
        "response_validation_failed",
        fields=[".".join(map(str, e.get("loc", ()))) for e in exc.errors()],
    )
    return _internal_error(request)


class UnhandledErrorMiddleware:
    """Turns an exception no handler claimed into a 500 problem, inside the middleware stack.

    Starlette's own catch-all sits outside every user middleware, so its 500s would miss the
    request id and security headers; this one sits just inside them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            logger.exception("unhandled_error", exc_info=exc)
            if response_started:
                raise  # too late for a problem response; the server closes the connection
            await _internal_error(Request(scope))(scope, receive, send)


def _internal_error(request: Request) -> JSONResponse:
    # Never the exception text: it may hold SQL, paths or data. The request id links the
    # client's report to the logged traceback.
    return problem_response(
        request,
        status=500,
        detail="An unexpected error occurred. It has been logged; quote the request_id.",
    )


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _handle_app_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(ResponseValidationError, _handle_response_validation)
    app.add_exception_handler(sa_exc.IntegrityError, _handle_integrity_error)
    app.add_exception_handler(sa_exc.DBAPIError, _handle_database_error)
    # The driver raises some connection failures unwrapped (asyncpg's connect raises
    # ConnectionRefusedError / TimeoutError itself): a dependency that can't be reached is a
    # 503 with Retry-After, never a 500.
    for unavailable in (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.TimeoutError,
        ConnectionError,
        TimeoutError,
    ):
        app.add_exception_handler(unavailable, _handle_database_unavailable)

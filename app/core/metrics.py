"""Prometheus metrics: every metric of the process is declared here, so a reader (and a
dashboard author) finds them in one place, plus the middleware and endpoint that serve them.

- HTTP: requests by method, route template and status; latency by route template; in flight.
  Route templates (`/api/v1/posts/{post_id}`), never raw paths, keep label cardinality bounded.
- Database pool: size, checked out, overflow (read at scrape time).
- Cache hits/misses, breaker state and Celery task outcomes are recorded where they happen.

`/metrics` is open in dev and test; in prod it needs `Authorization: Bearer <METRICS_TOKEN>`
and answers 404 when no token is configured (scrape it over a private network).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to the end of the response, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being served right now.")
DB_STATEMENTS = Counter("db_statements_total", "SQL statements sent to PostgreSQL by this process.")
DB_POOL = Gauge("db_pool_connections", "Database pool: size, checked_out, overflow.", ["state"])
CACHE_REQUESTS = Counter(
    "cache_requests_total",
    "Cache lookups by cache name and result (hit, miss, error).",
    ["cache", "result"],
)
BREAKER_STATE = Gauge(
    "circuit_breaker_open",
    "1 while a provider's circuit breaker is open or half-open.",
    ["provider"],
)
TASK_RUNS = Counter(
    "celery_task_runs_total", "Celery task executions by task and outcome.", ["task", "outcome"]
)
TASK_DURATION = Histogram(
    "celery_task_duration_seconds", "Celery task run time.", ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)  # fmt: skip
WEBHOOK_ATTEMPTS = Counter(
    "webhook_delivery_attempts_total",
    "Outbound webhook attempts by outcome (succeeded, retrying, failed, superseded).",
    ["outcome"],
)

UNMATCHED = "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP request by the route template that served it."""

    def __init__(self, app: ASGIApp, *, application: FastAPI) -> None:
        self.app = app
        self.application = application
        self._templates: dict[int, str] | None = None

    def _template(self, scope: Scope) -> str:
        if self._templates is None:
            # Full templates (with router prefixes), built once: FastAPI includes routers lazily.
            self._templates = {
                id(context.original_route): context.path or UNMATCHED
                for context in iter_route_contexts(self.application.routes)
            }
        route = scope.get("route")
        return self._templates.get(id(route), UNMATCHED) if route is not None else UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            HTTP_IN_FLIGHT.dec()
            route = self._template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)


def _observe_pool(app: Any) -> None:
    pool = app.state.engine.pool
    DB_POOL.labels("size").set(pool.size())
    DB_POOL.labels("checked_out").set(pool.checkedout())
    DB_POOL.labels("overflow").set(max(0, pool.overflow()))


async def metrics_endpoint(request: Request) -> Response:
    settings = request.app.state.settings
    token = settings.metrics_token
    if settings.is_prod:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token is None or not hmac.compare_digest(supplied, token.get_secret_value()):
            return Response(status_code=404)
    _observe_pool(request.app)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

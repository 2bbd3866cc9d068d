"""The application factory: settings, lifespan, middleware, error handlers, routers.

Nothing happens at import time; `create_app()` builds an app for the settings it is given and
its lifespan opens (and closes) the database pool and the Redis client.
"""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import structlog
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from app.api import API_V1_PREFIX, api_router
from app.auth.service import AuthTools
from app.core import outbox
from app.core.cache import Cache
from app.core.celery import create_celery
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import UnhandledErrorMiddleware, register_error_handlers
from app.core.logging import configure_logging
from app.core.metrics import MetricsMiddleware, metrics_endpoint
from app.core.middleware import (
    BodySizeLimitMiddleware,
    ContentTypeMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from app.core.openapi import install_openapi
from app.core.pagination import CursorCodec
from app.core.profiling import ProfilerMiddleware
from app.core.ratelimit import RateLimiter
from app.core.redis import create_redis
from app.core.storage import create_storage
from app.health.router import router as health_router

logger = structlog.get_logger(__name__)

ATTACHMENT_UPLOAD_PATH = re.compile(rf"^{API_V1_PREFIX}/posts/[^/]+/attachments$")
# Room for the multipart framing around an attachment of the largest accepted size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


@contextmanager
def _fewer_garbage_collections(threshold: int) -> Iterator[None]:
    """Garbage collection tuned for a long-running server (docs/performance.md).

    Reference counting frees almost every object the moment it is dropped; the cyclic
    collector exists for cycles. By default it runs a young collection every 700 container
    allocations (several per request here) and every so often a full one, which walks the few
    hundred thousand objects built at startup (routes, mappers, validators) that will never
    be garbage. `gc.freeze()` moves those out of its reach, and a higher threshold runs it
    rarely; cycles are still collected, a little later. Together: about a quarter less CPU
    per feed request, and a shorter latency tail. Undone at shutdown, so a process that
    starts many apps (the tests) neither keeps each one's objects nor the threshold.
    """
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(threshold, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, json=settings.json_logs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.db)
        redis = create_redis(settings.redis)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        read_engine = create_engine(settings.db, read_only=True)
        app.state.read_engine = read_engine
        app.state.read_sessionmaker = create_sessionmaker(read_engine)
        app.state.redis = redis
        app.state.cache = Cache(redis, settings.cache, prefix=f"{settings.redis.key_prefix}cache:")
        ratelimiter = RateLimiter(
            settings.rate_limit,
            redis=redis,
            key_prefix=settings.redis.key_prefix,
            trusted_proxies=settings.http.trusted_proxies,
        )
        app.state.ratelimiter = ratelimiter
        app.state.auth = AuthTools.from_settings(settings.auth, limiter=ratelimiter)
        app.state.cursors = CursorCodec(settings.secret_key.get_secret_value().encode())
        # The API only publishes (the outbox relay's nudge); workers consume.
        app.state.celery = create_celery(settings)
        app.state.storage = create_storage(settings)
        outbox.set_nudge(outbox.celery_nudge(app.state.celery))
        logger.info("api_started", env=settings.app_env.value)
        try:
            with _fewer_garbage_collections(settings.gc_threshold):
                yield
        finally:
            outbox.set_nudge(None)
            app.state.celery.close()
            # The client was given its pool, so it does not close it unless told to.
            await redis.aclose(close_connection_pool=True)
            await read_engine.dispose()
            await engine.dispose()
            logger.info("api_stopped")

    app = FastAPI(
        title="reference-backend",
        version="1.0.0",
        summary="Users, posts and orders: the backend checklist, done right.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings

    # Added innermost first: the request id wraps everything, so even a 413 or 500 carries it.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(ContentTypeMiddleware, application=app)
    app.add_middleware(
        BodySizeLimitMiddleware,
        default=settings.http.max_body_bytes,
        overrides=[
            (ATTACHMENT_UPLOAD_PATH, settings.attachments.max_bytes + MULTIPART_OVERHEAD_BYTES)
        ],
    )
    if settings.http.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.http.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
                "X-API-Key",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
        )
    if settings.profiler:
        app.add_middleware(ProfilerMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_prod)
    app.add_middleware(MetricsMiddleware, application=app)
    app.add_middleware(RequestIdMiddleware)

    register_error_handlers(app)
    install_openapi(app)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.include_router(health_router)
    app.include_router(api_router)
    return app

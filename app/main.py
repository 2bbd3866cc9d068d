"""The application factory: settings, lifespan, middleware, error handlers, routers.

Nothing happens at import time; `create_app()` builds an app for the settings it is given and
its lifespan opens (and closes) the database pool and the Redis client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from app.api import api_router
from app.auth.service import AuthTools
from app.core import outbox
from app.core.celery import create_celery
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import UnhandledErrorMiddleware, register_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import (
    BodySizeLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from app.core.openapi import install_openapi
from app.core.pagination import CursorCodec
from app.core.redis import create_redis
from app.core.storage import LocalStorage
from app.health.router import router as health_router

logger = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, json=settings.json_logs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.db)
        redis = create_redis(settings.redis)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.redis = redis
        app.state.auth = AuthTools.from_settings(settings.auth)
        app.state.cursors = CursorCodec(settings.secret_key.get_secret_value().encode())
        # The API only publishes (the outbox relay's nudge); workers consume.
        app.state.celery = create_celery(settings)
        app.state.storage = LocalStorage(settings.blob_root)
        outbox.set_nudge(outbox.celery_nudge(app.state.celery))
        logger.info("api_started", env=settings.app_env.value)
        try:
            yield
        finally:
            outbox.set_nudge(None)
            app.state.celery.close()
            # The client was given its pool, so it does not close it unless told to.
            await redis.aclose(close_connection_pool=True)
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
    app.add_middleware(BodySizeLimitMiddleware, default=settings.http.max_body_bytes)
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
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_prod)
    app.add_middleware(RequestIdMiddleware)

    register_error_handlers(app)
    install_openapi(app)
    app.include_router(health_router)
    app.include_router(api_router)
    return app

"""The Redis client: one pool per process, opened in the lifespan, closed on shutdown."""

from __future__ import annotations

from redis.asyncio import ConnectionPool, Redis

from app.core.config import RedisSettings


def create_redis(settings: RedisSettings) -> Redis:
    """A client with its own bounded pool and short timeouts.

    Redis backs caches and limits, which all have a fallback, so a slow Redis must fail fast
    (`socket_timeout`) rather than hold a request.
    """
    if settings.url is None:
        raise RuntimeError(
            "REDIS_URL is not set. `make run` starts an embedded Redis for you; "
            "elsewhere set REDIS_URL=redis://host:6379/0."
        )
    pool = ConnectionPool.from_url(
        settings.url,
        max_connections=settings.max_connections,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.socket_timeout,
        health_check_interval=30,
        decode_responses=False,
    )
    return Redis(connection_pool=pool)

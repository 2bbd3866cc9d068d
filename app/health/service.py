"""Readiness: can this process serve requests right now?"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.http import breaker_states

logger = structlog.get_logger(__name__)

# A probe must answer fast even when a dependency hangs: orchestrators call it every few seconds.
CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(status == "ok" for status in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, status in self.checks.items() if status != "ok"]


async def _database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _redis(redis: Redis) -> None:
    await redis.ping()


async def _run(name: str, probe: Callable[[], Awaitable[None]]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        logger.warning("readiness_check_failed", dependency=name, error="timeout")
        return name, "timeout"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        logger.warning("readiness_check_failed", dependency=name, error=type(exc).__name__)
        return name, "unreachable"
    return name, "ok"


async def check_readiness(*, engine: AsyncEngine, redis: Redis, key_prefix: str) -> Readiness:
    """Probes PostgreSQL and Redis concurrently, each bounded by `CHECK_TIMEOUT_SECONDS`.

    The circuit breakers' states are reported in `details` but never fail readiness: an open
    breaker means a provider is down, and restarting or unrouting this instance can't fix that.
    """
    results, breakers = await asyncio.gather(
        asyncio.gather(
            _run("database", lambda: _database(engine)),
            _run("redis", lambda: _redis(redis)),
        ),
        _breakers(redis, key_prefix),
    )
    details: dict[str, object] = {"circuit_breakers": breakers} if breakers is not None else {}
    return Readiness(checks=dict(results), details=details)


async def _breakers(redis: Redis, key_prefix: str) -> dict[str, str] | None:
    try:
        return await asyncio.wait_for(breaker_states(redis, key_prefix), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - details are best effort; the redis check reports
        logger.warning("breaker_states_unavailable", error=type(exc).__name__)
        return None

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from app.core.config import RedisSettings, Settings
from tests.conftest import ServiceUrls, make_settings


async def test_live_answers_without_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_database_and_redis_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.checklist("api.error-format")
async def test_ready_names_the_failing_dependency(services: ServiceUrls) -> None:
    from asgi_lifespan import LifespanManager  # noqa: PLC0415

    from app.devstack.embedded import free_port  # noqa: PLC0415
    from app.main import create_app  # noqa: PLC0415

    dead_redis = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    app = create_app(make_settings(services, redis=dead_redis))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["checks"] == {"database": "ok", "redis": "unreachable"}
    assert "redis" in body["detail"]


@pytest.mark.checklist("integ.circuit-breaker")
async def test_an_open_breaker_shows_in_ready_details_without_failing_readiness(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    from redis import Redis as SyncRedis  # noqa: PLC0415

    from app.core.http import create_breaker  # noqa: PLC0415

    sync = SyncRedis.from_url(settings.redis.url or "")
    breaker = create_breaker(
        "payments", redis=sync, key_prefix=settings.redis.key_prefix, fail_max=1, reset_timeout=60
    )
    assert (await client.get("/health/ready")).json()["details"] == {
        "circuit_breakers": {"payments": "closed"}
    }
    breaker.open()
    sync.close()
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["details"] == {"circuit_breakers": {"payments": "open"}}

from __future__ import annotations

import httpx
import pytest

from app.core.config import RedisSettings
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

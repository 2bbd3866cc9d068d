"""The path `make run` takes with nothing configured: embedded PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from app.core.config import DatabaseSettings, Environment, RedisSettings, Settings
from app.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from app.devstack.migrate import upgrade_to_head
from app.main import create_app


async def test_embedded_servers_migrate_and_serve_ready(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "pg") as postgres, EmbeddedRedis(tmp_path / "redis") as redis:
        database_url = postgres.url(postgres.database)
        await asyncio.to_thread(upgrade_to_head, database_url)
        settings = Settings(
            app_env=Environment.TEST,
            db=DatabaseSettings(url=database_url),
            redis=RedisSettings(url=redis.url),
        )
        app = create_app(settings)
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}

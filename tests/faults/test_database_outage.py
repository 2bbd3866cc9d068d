"""PostgreSQL becomes unreachable mid-flight: the API answers 503 fast, then recovers by itself."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url

from app.core.config import DatabaseSettings
from tests.conftest import AppClient, ServiceUrls
from tests.faults.proxy import TcpProxy

pytestmark = pytest.mark.checklist("api.error-format", "db.pooling")


@pytest.fixture
async def database_proxy(services: ServiceUrls) -> AsyncIterator[tuple[TcpProxy, str]]:
    url = make_url(services.database_url)
    socket_dir = url.query.get("host")
    if socket_dir:  # the embedded server listens on a Unix socket
        proxy = TcpProxy(unix_path=f"{socket_dir}/.s.PGSQL.5432")
    else:
        proxy = TcpProxy(host=url.host or "127.0.0.1", port=url.port or 5432)
    await proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port, query={})
    yield proxy, through_proxy.render_as_string(hide_password=False)
    await proxy.cut()


async def test_database_outage_is_a_fast_503_and_recovery_needs_no_restart(
    client_for: AppClient, database_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, url = database_proxy
    db = DatabaseSettings(url=url, pool_timeout=1.0, connect_timeout=1.0)
    # This app must use its own engine (through the proxy), not the test's transaction.
    async with client_for(db=db, own_database=True) as client:
        assert (
            await client.get("/api/v1/users/me", headers={"X-API-Key": "rb_000000000000_x"})
        ).status_code == 401

        await proxy.cut()
        started = time.monotonic()
        response = await client.post(
            "/api/v1/auth/token", data={"username": "a@example.com", "password": "x" * 12}
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"]
        assert elapsed < 5
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] != "ok"

        await proxy.start()
        recovered = await client.get("/health/ready")
        assert recovered.status_code == 200
        again = await client.get("/api/v1/users/me", headers={"X-API-Key": "rb_000000000000_x"})
        assert again.status_code == 401  # answered from the database again

"""Horizontal scaling: two real API processes share PostgreSQL and Redis and nothing else.

Whatever one process learns (a spent rate limit, a revoked session) the other enforces,
because no state that matters lives in process memory.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pybreaker
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.devstack.embedded import free_port
from tests.conftest import ServiceUrls, truncate_all

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.checklist("perf.horizontal-scaling")


def _start_api(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the API process exited"
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never became ready")


@pytest.fixture
def redis_prefix(services: ServiceUrls) -> str:
    return f"test:{services.run_id}:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def two_apis(services: ServiceUrls, redis_prefix: str) -> Iterator[tuple[str, str]]:
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": services.database_url,
        "REDIS_URL": services.redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
        "RATE_LIMIT_DEFAULT": "6/minute",
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_KIB": "1024",
        "AUTH_ARGON2_PARALLELISM": "1",
    }
    started = [_start_api(env), _start_api(env)]
    try:
        for process, url in started:
            _wait_ready(url, process)
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            process.wait(timeout=10)


@pytest.fixture
async def cleanup(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await truncate_all(engine)


async def test_a_session_revoked_on_one_process_is_rejected_by_the_other(
    two_apis: tuple[str, str], cleanup: None
) -> None:
    first, second = two_apis
    async with httpx.AsyncClient() as client:
        registration = {"email": "scale@example.com", "password": "p" * 16, "full_name": "S"}
        assert (
            await client.post(f"{first}/api/v1/auth/register", json=registration)
        ).status_code == 201
        pair = (
            await client.post(
                f"{first}/api/v1/auth/token",
                data={"username": "scale@example.com", "password": "p" * 16},
            )
        ).json()
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (await client.get(f"{second}/api/v1/users/me", headers=headers)).status_code == 200
        assert (
            await client.post(f"{second}/api/v1/auth/logout", headers=headers)
        ).status_code == 204
        assert (await client.get(f"{first}/api/v1/users/me", headers=headers)).status_code == 401


async def test_a_rate_limit_spent_across_both_processes(
    two_apis: tuple[str, str], cleanup: None
) -> None:
    first, second = two_apis
    async with httpx.AsyncClient() as client:
        statuses = [
            (await client.get(f"{url}/api/v1/users/me")).status_code
            for url in (first, second, first, second, first, second, first)
        ]
    # One budget of 6 per client IP, shared: the 7th request fails, whichever process gets it.
    assert statuses == [401] * 6 + [429]


async def test_a_circuit_breaker_opened_elsewhere_is_seen_open_by_both(
    two_apis: tuple[str, str], services: ServiceUrls, redis_prefix: str
) -> None:
    """A worker trips the payment provider's breaker; both API processes report it open."""
    from redis import Redis as SyncRedis  # noqa: PLC0415

    from app.core.http import create_breaker  # noqa: PLC0415

    redis = SyncRedis.from_url(services.redis_url)
    breaker = create_breaker(
        "payments", redis=redis, key_prefix=redis_prefix, fail_max=1, reset_timeout=60
    )
    with contextlib.suppress(ConnectionError, pybreaker.CircuitBreakerError):  # noqa: SIM117
        with breaker.calling():
            raise ConnectionError("the provider is down")
    redis.close()
    async with httpx.AsyncClient() as client:
        for url in two_apis:
            details = (await client.get(f"{url}/health/ready")).json()["details"]
            assert details["circuit_breakers"]["payments"] == "open", url

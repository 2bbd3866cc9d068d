"""Rate limits against the real Redis: keyed by principal or IP, tiered, stricter on sign-in,
with a deliberate policy when Redis is down."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import HttpSettings, RateLimitSettings, RedisSettings
from app.devstack.embedded import free_port
from tests.conftest import AppClient
from tests.factories import create_account, sign_in
from tests.loopback import unresponsive_server

ME = "/api/v1/users/me"

pytestmark = pytest.mark.checklist(
    "api.rate-limiting", "anti.api.no-rate-limit", "anti.sec.no-rate-limit"
)


def limits(**values: object) -> RateLimitSettings:
    return RateLimitSettings(**values)  # type: ignore[arg-type]


def assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.json()["type"].endswith("/rate-limited")


async def test_anonymous_callers_are_limited_per_ip(client_for: AppClient) -> None:
    async with client_for(rate_limit=limits(default="3/minute")) as client:
        statuses = [(await client.get(ME)).status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429


async def test_successful_responses_carry_the_ratelimit_headers(
    client_for: AppClient, session: AsyncSession, app: FastAPI
) -> None:
    account = await create_account(session, app)
    async with client_for(rate_limit=limits(default="5/minute")) as client:
        first = await client.get(ME, headers=account.headers)
        second = await client.get(ME, headers=account.headers)
    assert first.status_code == 200
    assert first.headers["ratelimit-limit"] == "5"
    assert first.headers["ratelimit-remaining"] == "4"
    assert second.headers["ratelimit-remaining"] == "3"
    assert 1 <= int(first.headers["ratelimit-reset"]) <= 60


async def test_authenticated_callers_have_their_own_budget_and_admins_a_larger_one(
    client_for: AppClient, session: AsyncSession, app: FastAPI
) -> None:
    alice = await create_account(session, app)
    bob = await create_account(session, app)
    admin = await create_account(session, app, roles=("admin",))
    async with client_for(rate_limit=limits(default="2/minute", elevated="5/minute")) as client:
        alice_statuses = [
            (await client.get(ME, headers=alice.headers)).status_code for _ in range(3)
        ]
        bob_status = (await client.get(ME, headers=bob.headers)).status_code
        admin_statuses = [
            (await client.get(ME, headers=admin.headers)).status_code for _ in range(5)
        ]
        assert_429(await client.get(ME, headers=alice.headers))
    assert alice_statuses == [200, 200, 429]
    assert bob_status == 200  # same IP, different principal, own budget
    assert admin_statuses == [200] * 5


async def test_sign_in_is_limited_per_ip(client_for: AppClient) -> None:
    async with client_for(rate_limit=limits(auth="3/minute")) as client:
        statuses = [
            (await sign_in(client, f"nobody{i}@example.com", "wrong password!")).status_code
            for i in range(4)
        ]
    assert statuses == [401, 401, 401, 429]


async def test_failed_sign_ins_lock_the_account_even_from_many_ips(
    client_for: AppClient, session: AsyncSession, app: FastAPI
) -> None:
    account = await create_account(session, app)
    other = await create_account(session, app)
    settings = limits(auth_account="2/minute", auth="100/minute")
    proxies = HttpSettings(trusted_proxies=["127.0.0.1"])
    async with client_for(rate_limit=settings, http=proxies) as client:
        for attacker_ip in ("203.0.113.1", "203.0.113.2"):
            response = await client.post(
                "/api/v1/auth/token",
                data={"username": account.email, "password": "wrong password!"},
                headers={"X-Forwarded-For": attacker_ip},
            )
            assert response.status_code == 401
        # Even the right password is refused until the window passes...
        assert_429(await sign_in(client, account.email, account.password))
        # ...and only for that account.
        assert (await sign_in(client, other.email, other.password)).status_code == 200


async def test_forwarded_for_is_believed_only_from_trusted_proxies(client_for: AppClient) -> None:
    async with client_for(rate_limit=limits(default="1/minute")) as client:
        first = await client.get(ME, headers={"X-Forwarded-For": "198.51.100.1"})
        spoofed = await client.get(ME, headers={"X-Forwarded-For": "198.51.100.2"})
    assert (first.status_code, spoofed.status_code) == (401, 429)  # header ignored

    proxies = HttpSettings(trusted_proxies=["127.0.0.0/8"])
    async with client_for(rate_limit=limits(default="1/minute"), http=proxies) as client:
        one = await client.get(ME, headers={"X-Forwarded-For": "198.51.100.3"})
        two = await client.get(ME, headers={"X-Forwarded-For": "198.51.100.4"})
    assert (one.status_code, two.status_code) == (401, 401)  # two clients behind the proxy


def _dead_redis() -> RedisSettings:
    return RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2)


async def test_redis_down_fails_open_for_the_api_and_logs_a_warning(
    client_for: AppClient,
    session: AsyncSession,
    app: FastAPI,
    capfd: pytest.CaptureFixture[str],
) -> None:
    account = await create_account(session, app)
    async with client_for(redis=_dead_redis(), rate_limit=limits(default="1/minute")) as client:
        statuses = [(await client.get(ME, headers=account.headers)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert "rate_limit_storage_down" in capfd.readouterr().err


@pytest.fixture
async def hung_redis() -> AsyncIterator[RedisSettings]:
    async for port in unresponsive_server():
        yield RedisSettings(url=f"redis://127.0.0.1:{port}/0", socket_timeout=0.3)


async def test_a_hung_redis_costs_one_timeout_then_is_left_alone(
    client_for: AppClient,
    session: AsyncSession,
    app: FastAPI,
    hung_redis: RedisSettings,
    capfd: pytest.CaptureFixture[str],
) -> None:
    account = await create_account(session, app)
    policy = limits(default="1/minute", redis_retry_after_seconds=30)
    statuses, timings = [], []
    async with client_for(redis=hung_redis, rate_limit=policy) as client:
        for _ in range(4):
            started = time.monotonic()
            statuses.append((await client.get(ME, headers=account.headers)).status_code)
            timings.append(time.monotonic() - started)
        # Sign-in is still throttled meanwhile, in process memory.
        signs_in = [
            (await sign_in(client, "nobody@example.com", "wrong password!")).status_code
            for _ in range(25)
        ]
    assert statuses == [200, 200, 200, 200]  # the default policy: fail open
    assert timings[0] < 1.5  # bounded by the socket timeout
    assert max(timings[1:]) < 0.25  # Redis skipped: no timeout to wait out again
    assert signs_in[-1] == 429
    # One warning per outage, not one per request.
    assert capfd.readouterr().err.count("rate_limit_storage_down") == 1


async def test_redis_down_keeps_sign_in_throttled_in_process(client_for: AppClient) -> None:
    async with client_for(redis=_dead_redis(), rate_limit=limits(auth="2/minute")) as client:
        statuses = [
            (await sign_in(client, "nobody@example.com", "wrong password!")).status_code
            for _ in range(3)
        ]
    assert statuses == [401, 401, 429]


async def test_redis_down_fails_closed_when_configured(
    client_for: AppClient, session: AsyncSession, app: FastAPI
) -> None:
    account = await create_account(session, app)
    async with client_for(redis=_dead_redis(), rate_limit=limits(redis_down="closed")) as client:
        response = await client.get(ME, headers=account.headers)
    assert response.status_code == 503


async def test_the_switch_turns_limiting_off(client_for: AppClient) -> None:
    async with client_for(rate_limit=limits(enabled=False, default="1/minute")) as client:
        statuses = [(await client.get(ME)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]

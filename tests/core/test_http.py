"""The resilient HTTP client against real loopback servers: timeouts, retries, the breaker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pybreaker
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from app.core.config import Settings
from app.core.http import (
    ClientPolicy,
    ResilientClient,
    UpstreamUnavailable,
    breaker_states,
    create_breaker,
)
from app.core.metrics import BREAKER_STATE
from app.devstack.embedded import free_port
from tests.loopback import Reply, ScriptedUpstream, serve

KEY = {"Idempotency-Key": "order-1"}


@pytest.fixture
def sync_redis(settings: Settings, redis: Redis) -> Iterator[SyncRedis]:
    """A sync client, as pybreaker's storage needs; keys go under the test's prefix, which the
    `redis` fixture deletes afterwards."""
    client = SyncRedis.from_url(settings.redis.url or "")
    yield client
    client.close()


def _client(
    base_url: str,
    sync_redis: SyncRedis,
    settings: Settings,
    *,
    attempts: int = 3,
    read_timeout: float = 2.0,
    fail_max: int = 100,
    reset_timeout: float = 1.0,
    name: str = "upstream",
) -> ResilientClient:
    breaker = create_breaker(
        name,
        redis=sync_redis,
        key_prefix=settings.redis.key_prefix,
        fail_max=fail_max,
        reset_timeout=reset_timeout,
    )
    policy = ClientPolicy(
        name=name,
        base_url=base_url,
        timeout=httpx.Timeout(connect=1.0, read=read_timeout, write=1.0, pool=1.0),
        attempts=attempts,
        max_wait=2.0,
        first_wait=0.05,
    )
    return ResilientClient(policy, breaker=breaker)


@pytest.mark.checklist("integ.resilient-calls")
async def test_5xx_is_retried_with_backoff_until_it_succeeds(
    sync_redis: SyncRedis, settings: Settings
) -> None:
    upstream = ScriptedUpstream(Reply(503), Reply(502), Reply(201))
    with serve(upstream) as url:
        client = _client(url, sync_redis, settings)
        response = await client.request("POST", "/v1/charges", json={}, headers=KEY)
        await client.aclose()
    assert response.status_code == 201
    assert len(upstream.requests) == 3
    assert {r["idempotency-key"] for r in upstream.requests} == {"order-1"}


@pytest.mark.checklist("integ.resilient-calls")
async def test_a_slow_upstream_times_out_and_retries_are_bounded(
    sync_redis: SyncRedis, settings: Settings
) -> None:
    upstream = ScriptedUpstream(Reply(201, delay=1.0))
    with serve(upstream) as url:
        client = _client(url, sync_redis, settings, attempts=3, read_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable, match="ReadTimeout"):
            await client.request("POST", "/v1/charges", json={}, headers=KEY)
        elapsed = time.monotonic() - started
        await client.aclose()
    assert len(upstream.requests) == 3
    assert elapsed < 3 * 0.2 + 2 * 2.0  # three bounded tries and two capped pauses, no more


@pytest.mark.checklist("integ.resilient-calls")
async def test_429_waits_for_retry_after_and_a_long_pause_is_left_to_the_caller(
    sync_redis: SyncRedis, settings: Settings
) -> None:
    upstream = ScriptedUpstream(Reply(429, {"Retry-After": "1"}), Reply(201))
    with serve(upstream) as url:
        client = _client(url, sync_redis, settings)
        started = time.monotonic()
        response = await client.request("POST", "/v1/charges", json={}, headers=KEY)
        assert response.status_code == 201
        assert time.monotonic() - started >= 1.0
        upstream.replies = [Reply(429, {"Retry-After": "30"})]
        with pytest.raises(UpstreamUnavailable) as failure:
            await client.request("POST", "/v1/charges", json={}, headers=KEY)
        await client.aclose()
    assert failure.value.retry_after == 30
    assert len(upstream.requests) == 3  # the 30 s pause was not waited out here


@pytest.mark.checklist("integ.resilient-calls")
async def test_client_errors_and_unkeyed_posts_are_not_retried(
    sync_redis: SyncRedis, settings: Settings
) -> None:
    upstream = ScriptedUpstream(Reply(400))
    with serve(upstream) as url:
        client = _client(url, sync_redis, settings)
        assert (await client.request("POST", "/x", json={}, headers=KEY)).status_code == 400
        upstream.replies = [Reply(503)]
        # Without an Idempotency-Key a POST that reached the server may have taken effect.
        with pytest.raises(UpstreamUnavailable):
            await client.request("POST", "/x", json={})
        await client.aclose()
    assert len(upstream.requests) == 2


@pytest.mark.checklist("integ.resilient-calls")
async def test_connection_refused_is_retried_then_reported(
    sync_redis: SyncRedis, settings: Settings
) -> None:
    client = _client(f"http://127.0.0.1:{free_port()}", sync_redis, settings, attempts=2)
    with pytest.raises(UpstreamUnavailable, match="ConnectError"):
        await client.request("POST", "/x", json={})  # never sent: safe even without a key
    await client.aclose()


@pytest.mark.checklist("integ.circuit-breaker")
async def test_breaker_goes_closed_open_half_open_closed_and_every_process_sees_it(
    sync_redis: SyncRedis, settings: Settings, redis: Redis
) -> None:
    upstream = ScriptedUpstream(Reply(503))
    with serve(upstream) as url:
        # pybreaker keeps `opened_at` in whole seconds, so a 2 s reset timeout means open for
        # more than 1 s: long enough for the checks below, however loaded the machine.
        client = _client(url, sync_redis, settings, attempts=1, fail_max=3, reset_timeout=2)
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await client.request("GET", "/x")
        assert client.breaker.current_state == "closed"
        with pytest.raises(pybreaker.CircuitBreakerError):  # the third failure opens it
            await client.request("GET", "/x")
        assert BREAKER_STATE.labels(provider="upstream")._value.get() == 1
        # Open: calls fail fast without reaching the provider, here and in another process
        # (a second client with its own breaker object, sharing only Redis).
        other = _client(url, sync_redis, settings, attempts=1, fail_max=3, reset_timeout=2)
        for breaker_owner in (client, other):
            with pytest.raises(pybreaker.CircuitBreakerError):
                await breaker_owner.request("GET", "/x")
        assert len(upstream.requests) == 3
        assert await breaker_states(redis, settings.redis.key_prefix) == {"upstream": "open"}

        await asyncio.sleep(2.1)  # reset timeout over: the next call is a trial (half-open)
        with pytest.raises(pybreaker.CircuitBreakerError):  # the trial fails: open again
            await client.request("GET", "/x")
        assert len(upstream.requests) == 4
        await asyncio.sleep(2.1)
        upstream.replies = [Reply(200)]
        assert (await other.request("GET", "/x")).status_code == 200  # trial succeeds
        assert client.breaker.current_state == "closed"
        assert (await client.request("GET", "/x")).status_code == 200
        await client.aclose()
        await other.aclose()
    assert BREAKER_STATE.labels(provider="upstream")._value.get() == 0


@pytest.mark.checklist("integ.circuit-breaker", "integ.resilient-calls")
async def test_retries_stop_as_soon_as_the_breaker_opens(
    sync_redis: SyncRedis, settings: Settings
) -> None:
    upstream = ScriptedUpstream(Reply(503))
    with serve(upstream) as url:
        client = _client(url, sync_redis, settings, attempts=5, fail_max=2)
        with pytest.raises(pybreaker.CircuitBreakerError):
            await client.request("POST", "/x", json={}, headers=KEY)
        await client.aclose()
    assert len(upstream.requests) == 2  # not 5: CircuitBreakerError is never retried

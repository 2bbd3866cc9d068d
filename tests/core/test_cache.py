"""The Redis cache-aside: hits and misses, one recompute under a stampede, stale copies,
race-free invalidation, and failing open when Redis is down or slow. Against a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from app.core import cache as cache_module
from app.core.cache import Cache
from app.core.config import CacheSettings, RedisSettings, Settings
from app.core.metrics import CACHE_REQUESTS
from app.core.redis import create_redis
from app.devstack.embedded import free_port
from tests.loopback import unresponsive_server

pytestmark = pytest.mark.checklist("perf.caching", "anti.perf.no-caching")


class Source:
    """A stand-in for the database: counts computations, can be slowed or held."""

    def __init__(self, value: bytes = b"v1", *, delay: float = 0.0) -> None:
        self.value: bytes | None = value
        self.delay = delay
        self.calls = 0
        self.started = asyncio.Event()
        self.release: asyncio.Event | None = None

    async def __call__(self) -> bytes | None:
        self.calls += 1
        self.started.set()
        value = self.value
        if self.release is not None:
            await self.release.wait()
        await asyncio.sleep(self.delay)
        return value


class Counts:
    """Deltas of `cache_requests_total` for one cache name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        return {
            result: CACHE_REQUESTS.labels(self.name, result)._value.get()
            for result in ("hit", "miss", "error")
        }

    def delta(self) -> dict[str, float]:
        now = self._now()
        return {result: now[result] - self.start[result] for result in now}


@pytest.fixture
def make_cache(redis: Redis, settings: Settings) -> Callable[..., Cache]:
    def make(**overrides: float) -> Cache:
        return Cache(redis, CacheSettings(**overrides), prefix=settings.redis.key_prefix)

    return make


async def test_a_miss_computes_and_stores_and_the_next_read_hits(
    make_cache: Callable[..., Cache],
) -> None:
    cache, source, counts = make_cache(), Source(), Counts("t-hit")
    assert await cache.get_or_compute("t-hit", "k", source) == b"v1"
    source.value = b"v2"
    assert await cache.get_or_compute("t-hit", "k", source) == b"v1"
    assert source.calls == 1
    assert counts.delta() == {"hit": 1, "miss": 1, "error": 0}


async def test_nothing_is_cached_for_a_missing_value(make_cache: Callable[..., Cache]) -> None:
    cache, source = make_cache(), Source()
    source.value = None
    assert await cache.get_or_compute("t-none", "k", source) is None
    assert await cache.get_or_compute("t-none", "k", source) is None
    assert source.calls == 2


async def test_many_concurrent_misses_compute_once(make_cache: Callable[..., Cache]) -> None:
    cache, source, counts = make_cache(), Source(delay=0.1), Counts("t-stampede")
    results = await asyncio.gather(
        *(cache.get_or_compute("t-stampede", "k", source) for _ in range(25))
    )
    assert results == [b"v1"] * 25
    assert source.calls == 1
    assert counts.delta() == {"hit": 24, "miss": 1, "error": 0}


class ShiftedClock:
    """`time` as the cache module sees it, `ahead` seconds in the future (no sleeping)."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic()


async def test_a_stale_copy_answers_at_once_while_one_request_refreshes_it(
    make_cache: Callable[..., Cache], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = make_cache(ttl_seconds=60, stale_seconds=300)
    await cache.get_or_compute("t-stale", "k", Source(b"old"))
    monkeypatch.setattr(cache_module, "time", ShiftedClock(ahead=61))  # stale, not expired
    source = Source(b"new", delay=0.3)

    async def timed() -> tuple[bytes | None, float]:
        started = time.monotonic()
        value = await cache.get_or_compute("t-stale", "k", source)
        return value, time.monotonic() - started

    results = await asyncio.gather(*(timed() for _ in range(10)))
    assert source.calls == 1
    assert sorted(value for value, _ in results) == [b"new"] + [b"old"] * 9
    assert all(elapsed < 0.2 for value, elapsed in results if value == b"old")
    assert await cache.get_or_compute("t-stale", "k", source) == b"new"


async def test_invalidation_wins_over_a_recompute_that_read_before_the_write(
    make_cache: Callable[..., Cache],
) -> None:
    """The classic cache-aside race: a reader computes from the old data, a writer commits
    and invalidates, then the reader stores. Here the reader's store is refused."""
    cache = make_cache()
    outdated = Source(b"before the write")
    outdated.release = asyncio.Event()
    reader = asyncio.create_task(cache.get_or_compute("t-race", "k", outdated))
    await outdated.started.wait()
    await cache.invalidate("t-race", "k")  # the writer's after-commit callback
    outdated.release.set()
    assert await reader == b"before the write"  # that reader still gets its answer
    fresh = Source(b"after the write")
    assert await cache.get_or_compute("t-race", "k", fresh) == b"after the write"
    assert fresh.calls == 1


async def test_a_failed_recompute_releases_its_lock(make_cache: Callable[..., Cache]) -> None:
    cache = make_cache(wait_seconds=5)

    async def failing() -> bytes:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        await cache.get_or_compute("t-fail", "k", failing)
    started = time.monotonic()
    assert await cache.get_or_compute("t-fail", "k", Source()) == b"v1"
    assert time.monotonic() - started < 1  # did not wait for a lock nobody holds


@pytest.fixture
async def hung_redis_port() -> AsyncIterator[int]:
    async for port in unresponsive_server():
        yield port


async def _fails_open(
    cache: Cache, name: str
) -> tuple[list[bytes | None], list[float], dict[str, float]]:
    source, counts = Source(b"from the database"), Counts(name)
    values, timings = [], []
    for _ in range(3):
        started = time.monotonic()
        values.append(await cache.get_or_compute(name, "k", source))
        timings.append(time.monotonic() - started)
    await cache.invalidate(name, "k")  # logged, never raised
    return values, timings, counts.delta()


@pytest.mark.parametrize("failure", ["down", "hung"])
async def test_redis_down_or_hung_fails_open_and_is_then_bypassed(
    failure: str, hung_redis_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []

    class RecordingLogger:
        def warning(self, event: str, **_: object) -> None:
            warnings.append(event)

    monkeypatch.setattr(cache_module, "logger", RecordingLogger())
    port = free_port() if failure == "down" else hung_redis_port
    redis = create_redis(RedisSettings(url=f"redis://127.0.0.1:{port}/0", socket_timeout=0.3))
    name = f"t-{failure}"
    cache = Cache(redis, CacheSettings(retry_after_seconds=30), prefix="test:")
    try:
        values, timings, counts = await _fails_open(cache, name)
    finally:
        await redis.aclose(close_connection_pool=True)
    assert values == [b"from the database"] * 3
    assert counts == {"hit": 0, "miss": 0, "error": 3}
    assert timings[0] < 1.0  # bounded by the socket timeout, never a hang
    assert max(timings[1:]) < 0.05  # Redis is left alone for CACHE_RETRY_AFTER_SECONDS
    # One warning per outage, not one per request; a failed eviction is logged too.
    assert warnings == ["cache_unavailable", "cache_invalidation_failed"]


async def test_keys_live_under_the_configured_prefix(
    make_cache: Callable[..., Cache], redis: Redis, settings: Settings
) -> None:
    cache = make_cache()
    await cache.get_or_compute("t-prefix", "k", Source())
    keys = [key async for key in redis.scan_iter(match=f"{settings.redis.key_prefix}*")]
    assert keys == [f"{settings.redis.key_prefix}t-prefix:k".encode()]
    ttl = await redis.ttl(keys[0])
    assert 60 < ttl <= 60 + 300  # fresh period + stale period

"""Redis cache-aside for expensive reads: TTL, one recompute at a time, and it fails open.

The strategy (docs/guides/caching.md tells the whole story):

- **Cache-aside.** A read asks the cache; on a miss it computes from the database and stores the
  result for `CACHE_TTL_SECONDS`. Values are the serialized response bytes, so a hit costs one
  Redis GET and no serialization.
- **Explicit invalidation after the commit.** Every write that changes a cached value deletes
  it with `app.core.db.on_commit(...)`, so a rolled-back write never evicts, and the next read
  sees the committed data. The TTL only bounds what no write invalidates.
- **Stampede protection.** A copy is kept `CACHE_STALE_SECONDS` past its freshness. When it
  goes stale, the first request takes a short lock (`SET NX PX`) and recomputes while the
  others keep answering with the stale copy. When there is no copy at all (first read, or just
  invalidated), the others wait up to `CACHE_WAIT_SECONDS` for the lock holder's result.
- **Only the lock holder writes, and only while it still holds the lock.** Invalidation deletes
  the lock too, so a recompute that read the database before a write committed can't store its
  outdated result afterwards (the classic cache-aside race).
- **Fails open.** Redis is an optimisation, never a dependency of a read: if it is down or
  slow, the value is computed from the database, a warning is logged once, and Redis is left
  alone for `CACHE_RETRY_AFTER_SECONDS` so an outage costs one timeout per interval, not one
  per request. Never a 500 because of the cache.

Every lookup is counted in `cache_requests_total{cache, result}` with `result` one of `hit`
(fresh or stale copy served), `miss` (computed from the database) or `error` (Redis failed or
is being bypassed; computed from the database).
"""

from __future__ import annotations

import asyncio
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import CacheSettings
from app.core.metrics import CACHE_REQUESTS

logger = structlog.get_logger(__name__)

# An entry is the time (epoch seconds) until which it is fresh, then the cached bytes.
_HEADER = struct.Struct(">d")
_POLL_SECONDS = 0.02
_REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)

# Stores the entry only if the caller's lock is still the current one, then releases it.
_STORE_IF_LOCKED = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""
_RELEASE_IF_LOCKED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Compute = Callable[[], Awaitable[bytes | None]]


class Cache:
    """Named caches of bytes in Redis under `prefix`; see the module docstring."""

    def __init__(self, redis: Redis, settings: CacheSettings, *, prefix: str) -> None:
        self._redis = redis
        self._settings = settings
        self._prefix = prefix
        self._store_if_locked = redis.register_script(_STORE_IF_LOCKED)
        self._release_if_locked = redis.register_script(_RELEASE_IF_LOCKED)
        self._bypass_until = 0.0

    def key(self, name: str, key: str) -> str:
        return f"{self._prefix}{name}:{key}"

    async def get_or_compute(self, name: str, key: str, compute: Compute) -> bytes | None:
        """The cached bytes of `name:key`, or `compute()`'s (stored unless None).

        Never raises because of Redis: any Redis failure falls back to `compute()`.
        Exceptions of `compute()` itself propagate (and release the lock).
        """
        if time.monotonic() < self._bypass_until:
            CACHE_REQUESTS.labels(name, "error").inc()
            return await compute()
        value_key = self.key(name, key)
        try:
            cached, token = await self._lookup(value_key)
        except _REDIS_FAILURES as error:
            self._fail_open(name, error)
            return await compute()
        if cached is not None:
            CACHE_REQUESTS.labels(name, "hit").inc()
            return cached
        CACHE_REQUESTS.labels(name, "miss").inc()
        if token is None:
            # Another request holds the lock and is slow: answer from the database, unstored.
            return await compute()
        return await self._recompute(name, value_key, token, compute)

    async def invalidate(self, name: str, *keys: str) -> None:
        """Deletes the entries (and any recompute lock on them). Best-effort: a failure is
        logged, and the entry then lives at most its TTL (+ the stale period)."""
        names = [self.key(name, key) for key in keys]
        try:
            await self._redis.delete(*names, *(f"{key}:lock" for key in names))
        except _REDIS_FAILURES as error:
            logger.warning("cache_invalidation_failed", cache=name, error=type(error).__name__)

    async def _lookup(self, value_key: str) -> tuple[bytes | None, str | None]:
        """(a copy to answer with, or None; the recompute lock's token if we hold it)."""
        entry = await self._redis.get(value_key)
        if entry is not None:
            fresh_until, value = _unpack(entry)
            if fresh_until > time.time():
                return value, None
            # Stale: one request refreshes it while the others answer with the stale copy.
            token = await self._lock(value_key)
            return (None, token) if token is not None else (value, None)
        token = await self._lock(value_key)
        if token is not None:
            # Double-checked: between our GET and our lock another request may have stored
            # the value and released its lock. Use that copy instead of computing again.
            entry = await self._redis.get(value_key)
            if entry is not None:
                await self._release_if_locked(keys=[f"{value_key}:lock"], args=[token])
                return _unpack(entry)[1], None
            return None, token
        # No copy at all (first read, or just invalidated): wait for the lock holder's.
        return await self._wait_for(value_key), None

    async def _lock(self, value_key: str) -> str | None:
        token = secrets.token_hex(8)
        locked = await self._redis.set(
            f"{value_key}:lock", token, nx=True, px=int(self._settings.lock_seconds * 1000)
        )
        return token if locked else None

    async def _wait_for(self, value_key: str) -> bytes | None:
        deadline = time.monotonic() + self._settings.wait_seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
            entry = await self._redis.get(value_key)
            if entry is not None:
                return _unpack(entry)[1]
        return None

    async def _recompute(
        self, name: str, value_key: str, token: str, compute: Compute
    ) -> bytes | None:
        lock_key = f"{value_key}:lock"
        try:
            value = await compute()
        except BaseException:
            await self._quietly(name, self._release_if_locked(keys=[lock_key], args=[token]))
            raise
        if value is None:
            await self._quietly(name, self._release_if_locked(keys=[lock_key], args=[token]))
            return None
        ttl = self._settings.ttl_seconds
        entry = _HEADER.pack(time.time() + ttl) + value
        keep_ms = (ttl + self._settings.stale_seconds) * 1000
        await self._quietly(
            name, self._store_if_locked(keys=[value_key, lock_key], args=[token, entry, keep_ms])
        )
        return value

    async def _quietly(self, name: str, operation: Awaitable[object]) -> None:
        try:
            await operation
        except _REDIS_FAILURES as error:
            self._fail_open(name, error)

    def _fail_open(self, name: str, error: BaseException) -> None:
        CACHE_REQUESTS.labels(name, "error").inc()
        self._bypass_until = time.monotonic() + self._settings.retry_after_seconds
        logger.warning(
            "cache_unavailable",
            cache=name,
            error=type(error).__name__,
            retry_in_seconds=self._settings.retry_after_seconds,
        )


def _unpack(entry: bytes | str) -> tuple[float, bytes]:
    if not isinstance(entry, bytes):
        raise TypeError("the cache needs a Redis client that does not decode responses")
    (fresh_until,) = _HEADER.unpack_from(entry)
    return fresh_until, entry[_HEADER.size :]


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


CacheDep = Annotated[Cache, Depends(get_cache)]

"""Rate limiting: per principal or client IP on the whole API, stricter on sign-in.

Counters live in Redis, so every API process enforces the same budget: fixed windows in the
`limits` library's model (its limit strings and items; its async in-memory strategy for the
fallback), counted with one asynchronous round trip per check in the API's own Redis pool.
The check runs inside the route policy dependency (`app.auth.dependencies`), after
authentication: a limit is keyed by the principal (user or API key) rather than by whatever a
client claims, and every route is covered because every route has a policy.

It started on slowapi, then on `limits`' async Redis storage; the benchmark measured what
each cost the feed (docs/adr/0009-rate-limit-checks-off-the-event-loop.md,
docs/performance.md).

Responses carry the IETF draft headers `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (seconds); a 429 is a problem+json with `Retry-After`.

Redis outage policy (RATE_LIMIT_REDIS_DOWN): `open` serves the request and logs a warning,
`closed` answers 503. Sign-in limits never go unprotected: they fall back to an in-process
limiter (per process, so N replicas allow N times the budget during the outage).
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from fastapi import Request, Response
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from app.core.config import RateLimitSettings
from app.core.errors import AppError, ServiceUnavailable

logger = structlog.get_logger(__name__)


class RateLimited(AppError):
    status = 429
    title = "Too many requests"
    slug = "rate-limited"


@dataclass(frozen=True)
class Budget:
    """One limit applied to one key: `limit` is a `limits` string, `scope` names the budget."""

    limit: str
    key: str
    scope: str


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request: Request, networks: Sequence[Network]) -> str:
    """The client's address. `X-Forwarded-For` is believed only when the direct peer is in
    a trusted proxy network, and then read right to left, skipping trusted hops, so a client
    can't choose its own rate-limit key by sending the header."""
    peer = request.client.host if request.client else "unknown"

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not networks or not trusted(peer):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not trusted(hop):
            return hop
    return peer


def account_key(email: str) -> str:
    """A rate-limit key for an account that doesn't put the email address into Redis."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


# One round trip: count the hit, start the window on the first hit, and say when it ends.
_HIT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
"""
_PEEK = """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}
"""


class RateLimiter:
    def __init__(
        self,
        settings: RateLimitSettings,
        *,
        redis: Redis,
        key_prefix: str,
        trusted_proxies: list[str],
    ) -> None:
        self.settings = settings
        # Parsed once here, not on every request that asks for the client's address.
        self.trusted_proxies: tuple[Network, ...] = tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies
        )
        self._prefix = f"{key_prefix}rl:"
        # The API's Redis client and pool (bounded, short timeouts), not a second one.
        self._hit_script = redis.register_script(_HIT)
        self._peek_script = redis.register_script(_PEEK)
        self._fallback = FixedWindowRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {}
        # A hung Redis (as opposed to a refused connection) costs each call the full socket
        # timeout: after a failure, leave Redis alone for a while, as the cache does.
        self._skip_redis_until = 0.0

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def _item(self, limit: str) -> RateLimitItem:
        if limit not in self._items:
            self._items[limit] = parse(limit)
        return self._items[limit]

    async def hit(
        self, budget: Budget, response: Response | None = None, *, fallback: bool = False
    ) -> None:
        """Counts one request against `budget`; raises RateLimited when it is spent.

        `fallback=True` (sign-in) keeps counting in process memory while Redis is down.
        """
        if not self.enabled:
            return
        item = self._item(budget.limit)
        identifiers = (budget.scope, budget.key)
        window = await self._redis(self._hit_script, item, identifiers, item.get_expiry() * 1000, 1)
        if window is not None:
            count, reset_at = window
            allowed, remaining = count <= item.amount, item.amount - count
        elif fallback:
            allowed = await self._fallback.hit(item, *identifiers)
            reset_at, remaining = await self._fallback.get_window_stats(item, *identifiers)
        elif self.settings.redis_down == "closed":
            raise ServiceUnavailable("Rate limiting is unavailable; try again shortly.")
        else:
            return  # RATE_LIMIT_REDIS_DOWN=open: served unlimited (the outage is logged)
        headers = _headers(item, reset_at, remaining)
        if not allowed:
            _refuse(budget, headers)
        if response is not None:
            response.headers.update(headers)

    async def ensure_available(self, budget: Budget) -> None:
        """Raises RateLimited if `budget` is already spent, without counting a hit."""
        if not self.enabled:
            return
        item = self._item(budget.limit)
        identifiers = (budget.scope, budget.key)
        window = await self._redis(self._peek_script, item, identifiers)
        if window is not None:
            count, reset_at = window
            available, remaining = count < item.amount, item.amount - count
        else:  # storage down: the in-process count decides
            available = await self._fallback.test(item, *identifiers)
            reset_at, remaining = await self._fallback.get_window_stats(item, *identifiers)
        if not available:
            _refuse(budget, _headers(item, reset_at, remaining))

    async def _redis(
        self, script: AsyncScript, item: RateLimitItem, identifiers: tuple[str, str], *args: int
    ) -> tuple[int, float] | None:
        """(count, reset time) of the window from Redis; None if Redis is failing or failed
        moments ago (logged once per outage, then left alone for a while)."""
        if time.monotonic() < self._skip_redis_until:
            return None
        try:
            count, ttl_ms = await script(
                keys=[self._prefix + item.key_for(*identifiers)], args=list(args)
            )
        except Exception as exc:  # noqa: BLE001 - any storage failure triggers the policy
            retry_in = self.settings.redis_retry_after_seconds
            self._skip_redis_until = time.monotonic() + retry_in
            logger.warning(
                "rate_limit_storage_down",
                error=type(exc).__name__,
                policy=self.settings.redis_down,
                retry_in_seconds=retry_in,
            )
            return None
        return int(count), time.time() + max(ttl_ms, 0) / 1000


def _headers(item: RateLimitItem, reset_at: float, remaining: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(item.amount),
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(max(1, int(reset_at - time.time()))),
    }


def _refuse(budget: Budget, headers: dict[str, str]) -> None:
    logger.warning("rate_limited", scope=budget.scope, limit=budget.limit)
    reset_in = headers["RateLimit-Reset"]
    raise RateLimited(
        f"Rate limit of {budget.limit} exceeded; retry in {reset_in} s.",
        headers={**headers, "Retry-After": reset_in},
    )

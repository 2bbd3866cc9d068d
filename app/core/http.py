"""The one way this service calls another over HTTP: timeouts, retries and a circuit breaker.

`ResilientClient.request()` layers three defences, outermost first:

1. tenacity retries, only on failures a retry can fix: connection errors, timeouts, 5xx and
   429 (waiting what `Retry-After` asks, if that fits in the budget). Always bounded: a stop
   (attempts), a wait (exponential with full jitter, capped), a retry predicate and
   `reraise=True`, because tenacity's defaults retry forever, on every exception, at once.
   A POST is retried after the request may have reached the server only when it carries an
   `Idempotency-Key` (otherwise only when the connection never opened).
2. a pybreaker circuit breaker per provider, whose state lives in Redis so every process sees
   it open. It is *inside* the retries, so each try counts; when it opens (or is open) it
   raises `CircuitBreakerError`, which is never retried: callers defer the work instead of
   hammering a provider that is down. pybreaker decorating an `async def` would never see its
   failures and `call_async` is Tornado-only, hence `with breaker.calling(): await ...`.
3. httpx with explicit connect/read/write/pool timeouts, never the library defaults.

Exceptions a caller sees: `UpstreamUnavailable` (retryable failures exhausted; `retry_after`
if the provider asked for a pause), `CircuitBreakerError` (not called at all). A 4xx other than
429 is a response, returned to the caller to interpret. See docs/adr/0007-breaker-state-in-redis.md.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pybreaker
import structlog
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from app.core.metrics import BREAKER_STATE

logger = structlog.get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures that happen before a byte of the request was sent: safe to retry for any method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
BREAKER_STATES = ("closed", "open", "half-open")


class UpstreamUnavailable(Exception):
    """The provider could not be reached or kept failing; trying again later may work."""

    def __init__(self, provider: str, reason: str, retry_after: float | None = None) -> None:
        # Every argument in `args`: Celery pickles a task's exception, and pickling rebuilds
        # an exception from its args.
        super().__init__(provider, reason, retry_after)
        self.provider = provider
        self.reason = reason
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.provider}: {self.reason}"


class _RetryableStatus(Exception):
    """A 5xx or 429 answer, raised inside the breaker so it counts as a failure."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = parse_retry_after(response.headers.get("Retry-After"))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class ClientPolicy:
    """How hard to try one provider. Built by the domain from its settings section."""

    name: str
    base_url: str
    timeout: httpx.Timeout
    attempts: int = 3
    max_wait: float = 5.0
    first_wait: float = 0.2
    max_connections: int = 20


class _BreakerMetrics(pybreaker.CircuitBreakerListener):
    """Mirrors the breaker's state into the `circuit_breaker_open` gauge and the log."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old: Any, new: Any) -> None:
        BREAKER_STATE.labels(provider=cb.name).set(0 if new.name == "closed" else 1)
        logger.warning(
            "circuit_breaker_state_changed",
            provider=cb.name,
            old=getattr(old, "name", None),
            new=new.name,
        )


def breaker_namespace(key_prefix: str, name: str) -> str:
    return f"{key_prefix}breaker:{name}"


def breaker_registry_key(key_prefix: str) -> str:
    return f"{key_prefix}breakers"


def create_breaker(
    name: str,
    *,
    redis: SyncRedis,
    key_prefix: str,
    fail_max: int,
    reset_timeout: float,
) -> pybreaker.CircuitBreaker:
    """A breaker whose state (closed/open/half-open, counters, opened_at) is kept in Redis.

    `redis` must be a *sync* client without `decode_responses` (pybreaker decodes bytes
    itself). If Redis is unreachable the breaker reads as closed: losing Redis must not stop
    every outbound call.
    """
    storage = pybreaker.CircuitRedisStorage(
        pybreaker.STATE_CLOSED, redis, namespace=breaker_namespace(key_prefix, name)
    )
    redis.sadd(breaker_registry_key(key_prefix), name)
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        state_storage=storage,
        listeners=[_BreakerMetrics()],
        name=name,
    )


async def breaker_states(redis: Redis, key_prefix: str) -> dict[str, str]:
    """Every breaker's state as stored in Redis, by provider: for readiness details."""
    names = sorted(
        name.decode() if isinstance(name, bytes) else str(name)
        for name in await redis.smembers(breaker_registry_key(key_prefix))
    )
    states = {}
    for name in names:
        raw = await redis.get(f"{breaker_namespace(key_prefix, name)}:pybreaker:state")
        states[name] = raw.decode() if isinstance(raw, bytes) else (raw or "closed")
    return states


class ResilientClient:
    """An httpx client for one provider, with the policy's timeouts, retries and breaker."""

    def __init__(
        self,
        policy: ClientPolicy,
        *,
        breaker: pybreaker.CircuitBreaker,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.breaker = breaker
        self._client = httpx.AsyncClient(
            base_url=policy.base_url,
            timeout=policy.timeout,
            headers=headers,
            limits=httpx.Limits(
                max_connections=policy.max_connections,
                max_keepalive_connections=policy.max_connections,
            ),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Sends the request under the policy. Raises UpstreamUnavailable or
        pybreaker.CircuitBreakerError; returns any other response (2xx-4xx) as is."""
        method = method.upper()
        resendable = method in IDEMPOTENT_METHODS or any(
            name.lower() == "idempotency-key" for name in headers or {}
        )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: self._should_retry(exc, resendable=resendable)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send_once(method, path, json=json, headers=headers)
        except _RetryableStatus as exc:
            raise UpstreamUnavailable(
                self.policy.name,
                f"HTTP {exc.response.status_code}",
                retry_after=exc.retry_after,
            ) from exc
        except _TRANSIENT as exc:
            raise UpstreamUnavailable(self.policy.name, type(exc).__name__) from exc
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _send_once(
        self, method: str, path: str, *, json: Any, headers: dict[str, str] | None
    ) -> httpx.Response:
        with self.breaker.calling():
            response = await self._client.request(method, path, json=json, headers=headers)
            if response.status_code >= 500 or response.status_code == 429:
                await response.aread()
                raise _RetryableStatus(response)
        return response

    def _should_retry(self, exc: BaseException, *, resendable: bool) -> bool:
        if isinstance(exc, pybreaker.CircuitBreakerError):
            return False  # the provider is known to be down: don't knock again
        if isinstance(exc, _RetryableStatus):
            # A pause longer than our budget is the caller's to schedule (Celery countdown).
            return resendable and (exc.retry_after or 0) <= self.policy.max_wait
        if isinstance(exc, _NOT_SENT):
            return True
        return resendable and isinstance(exc, _TRANSIENT)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.max_wait)
        # Full jitter: retries of many clients don't arrive at the provider in lockstep.
        backoff = wait_random_exponential(
            multiplier=self.policy.first_wait, max=self.policy.max_wait
        )
        return float(backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "upstream_retry",
            provider=self.policy.name,
            attempt=state.attempt_number,
            error=str(exc) if isinstance(exc, _RetryableStatus) else type(exc).__name__,
            wait=round(state.upcoming_sleep, 3),
        )

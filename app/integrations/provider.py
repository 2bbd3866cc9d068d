"""The payment provider's API, called through the resilient client (app/core/http.py).

The contract (the simulator in app/devstack/payment_simulator.py implements it):
`POST /v1/charges` `{amount, currency, reference}` with `Authorization: Bearer <api key>` and
`Idempotency-Key`; answers `{id, status: succeeded | failed, ...}` (201 new, 200 replayed).
The same key always yields the same charge, so a repeated call never charges twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import structlog
from redis import Redis as SyncRedis

from app.core.config import Settings
from app.core.http import ClientPolicy, ResilientClient, UpstreamUnavailable, create_breaker

logger = structlog.get_logger(__name__)

PROVIDER = "payments"


@dataclass(frozen=True)
class ChargeRequest:
    order_id: uuid.UUID
    amount: int
    currency: str

    @property
    def idempotency_key(self) -> str:
        # The order id: every attempt for this order, from any worker, is the same charge.
        return str(self.order_id)


@dataclass(frozen=True)
class Charge:
    id: str
    succeeded: bool


class ProviderRejected(Exception):
    """The provider refused the request itself (4xx): retrying it can't help."""


class PaymentProvider:
    def __init__(self, client: ResilientClient, redis: SyncRedis) -> None:
        self.client = client
        self._redis = redis

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> PaymentProvider:
        payments = settings.payments
        # pybreaker's storage is synchronous and reads raw bytes: a sync client, no decoding.
        redis = SyncRedis.from_url(
            settings.redis.url or "",
            socket_timeout=settings.redis.socket_timeout,
            socket_connect_timeout=settings.redis.socket_timeout,
        )
        breaker = create_breaker(
            PROVIDER,
            redis=redis,
            key_prefix=settings.redis.key_prefix,
            fail_max=payments.breaker_fail_max,
            reset_timeout=payments.breaker_reset_seconds,
        )
        policy = ClientPolicy(
            name=PROVIDER,
            base_url=payments.base_url,
            timeout=httpx.Timeout(
                connect=payments.connect_timeout,
                read=payments.read_timeout,
                write=payments.write_timeout,
                pool=payments.pool_timeout,
            ),
            attempts=payments.retry_attempts,
            max_wait=payments.retry_max_wait,
        )
        headers = {"Authorization": f"Bearer {payments.api_key.get_secret_value()}"}
        return cls(
            ResilientClient(policy, breaker=breaker, headers=headers, transport=transport), redis
        )

    async def charge(self, request: ChargeRequest) -> Charge:
        """Charges the order's total, at most once per order. Raises UpstreamUnavailable (also
        when our credentials are refused), CircuitBreakerError (see app/core/http.py) or
        ProviderRejected (any other 4xx: this request can never succeed)."""
        response = await self.client.request(
            "POST",
            "/v1/charges",
            json={
                "amount": request.amount,
                "currency": request.currency,
                "reference": str(request.order_id),
            },
            headers={"Idempotency-Key": request.idempotency_key},
        )
        if response.status_code in (401, 403):
            # Our credentials, not the customer's order: retried (and logged) while someone
            # fixes PAYMENTS_API_KEY, instead of failing every order at once.
            logger.error("payment_provider_refused_credentials", status=response.status_code)
            raise UpstreamUnavailable(PROVIDER, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ProviderRejected(f"HTTP {response.status_code}")
        body = response.json()
        return Charge(id=str(body["id"]), succeeded=body["status"] == "succeeded")

    async def aclose(self) -> None:
        await self.client.aclose()
        self._redis.close()

"""The `charge_payment` Celery task: pays an order when `order.created` is relayed.

Reliability, all of it on purpose:
- `acks_late` + `reject_on_worker_lost`: a worker killed mid-charge has the message delivered
  again; the retry is safe because the charge is idempotent (see app/integrations/service.py).
- `autoretry_for` the provider, the database or Redis being unavailable, with exponential backoff,
  full jitter and a cap, `MAX_RETRIES` times; after that the order is failed (`on_failure`).
- An open circuit breaker defers the task without touching the provider and without spending
  a retry: it is re-sent with a countdown until the breaker may close, for at most
  `PAYMENTS_DEFER_DEADLINE_SECONDS` after the order was placed.
Celery has no asyncio, so the coroutine runs on the worker process's own loop (worker/db.py).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pybreaker
import structlog
from celery import Task, shared_task
from celery.signals import worker_process_init
from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc

from app.core import outbox
from app.core.config import get_settings
from app.core.http import UpstreamUnavailable
from app.integrations import service
from app.integrations.provider import PaymentProvider, ProviderRejected
from app.orders import service as orders
from worker.db import run, session_scope

logger = structlog.get_logger(__name__)

CHARGE_TASK = "integrations.charge_payment"
MAX_RETRIES = 8
BACKOFF_FACTOR_SECONDS = 2
BACKOFF_MAX_SECONDS = 300

outbox.subscribe(orders.ORDER_CREATED, CHARGE_TASK)


class _ProcessProvider:
    """One provider client per worker process and event loop (httpx pools belong to a loop)."""

    provider: PaymentProvider | None = None
    loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> PaymentProvider:
        loop = asyncio.get_running_loop()
        if cls.provider is None or cls.loop is not loop:
            cls.provider = PaymentProvider.from_settings(get_settings())
            cls.loop = loop
        return cls.provider


@worker_process_init.connect
def _forget_parent_client(**_: Any) -> None:
    _ProcessProvider.provider = None
    _ProcessProvider.loop = None


if TYPE_CHECKING:
    _Task = Task[Any, str]
else:
    _Task = Task  # celery's Task is generic in its type stubs only


class ChargeTask(_Task):
    def on_failure(
        self, exc: Exception, task_id: str, args: Any, kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """Retries are exhausted (or the failure isn't retryable): fail the order, return its
        stock, emit `order.failed`. Idempotent, like everything a redelivery can repeat."""
        order_id = uuid.UUID(kwargs["aggregate_id"])

        async def give_up() -> None:
            async with session_scope() as session:
                await service.fail_payment(session, order_id, reason=type(exc).__name__)

        run(give_up())


@shared_task(
    name=CHARGE_TASK,
    base=ChargeTask,
    bind=True,
    # Unavailable dependencies, all worth waiting for: the provider, the database, and Redis
    # (which holds the breaker's state).
    autoretry_for=(
        UpstreamUnavailable,
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        RedisError,
    ),
    retry_backoff=BACKOFF_FACTOR_SECONDS,
    retry_backoff_max=BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def charge_payment(self: ChargeTask, /, **event: Any) -> str:
    """Subscriber of `order.created`: charges the order once. Returns what happened."""
    return run(_charge(self, uuid.UUID(event["aggregate_id"])))


async def _charge(task: ChargeTask, order_id: uuid.UUID) -> str:
    async with session_scope() as session:
        prepared = await service.prepare_charge(session, order_id)
    if prepared is None:
        logger.info("charge_skipped", order_id=str(order_id))
        return "skipped"
    try:
        charge = await _ProcessProvider.get().charge(prepared.request)
    except pybreaker.CircuitBreakerError:
        return await _defer(task, order_id, placed_at=prepared.placed_at)
    except ProviderRejected as exc:
        async with session_scope() as session:
            await service.fail_payment(session, order_id, reason=f"provider_rejected: {exc}")
        return "rejected"
    async with session_scope() as session:
        await service.record_charge(session, order_id, charge)
    return "charged" if charge.succeeded else "declined"


async def _defer(task: ChargeTask, order_id: uuid.UUID, *, placed_at: datetime) -> str:
    settings = get_settings().payments
    if datetime.now(UTC) - placed_at > timedelta(seconds=settings.defer_deadline_seconds):
        async with session_scope() as session:
            await service.fail_payment(session, order_id, reason="provider_unavailable")
        return "gave_up"
    # Come back when the breaker may let a trial call through, spread out so deferred charges
    # don't all arrive at the recovering provider in the same second.
    countdown = settings.breaker_reset_seconds * (1 + random.random())  # noqa: S311 - jitter
    # `retries` is a message option Celery accepts and its type stubs omit.
    task.apply_async(  # type: ignore[call-arg]  # celery-types lacks apply_async's options
        kwargs=dict(task.request.kwargs or {}),
        countdown=countdown,
        retries=task.request.retries,  # a deferral is not a retry: keep the count
    )
    logger.info("charge_deferred", order_id=str(order_id), countdown=round(countdown, 1))
    return "deferred"

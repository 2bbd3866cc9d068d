"""The webhook Celery tasks: fan-out of order events, one attempt per message, the dispatcher
of due attempts (beat), the retention purge (beat) and secret re-encryption (by hand).

Reliability, all of it on purpose:
- every task is `acks_late` + `reject_on_worker_lost`: a worker that dies mid-task has the
  message delivered again, and every task is idempotent, so that is safe;
- `webhooks.deliver` makes one attempt and is never retried by Celery: its retries are the
  delivery's schedule, kept in the database and queued by `webhooks.dispatch_due`, which also
  rescues attempts whose worker died or whose message was lost (see app/webhooks/pipeline.py);
- the receiver is called between two short transactions, never inside one.
Celery has no asyncio, so each coroutine runs on the worker process's own loop (worker/db.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from celery import Task, shared_task
from cryptography.fernet import InvalidToken
from sqlalchemy import exc as sa_exc

from app.core import outbox
from app.core.config import Settings, get_settings
from app.webhooks import pipeline
from app.webhooks.sender import AttemptResult, WebhookSender
from app.webhooks.tools import WebhookTools
from worker.db import run, session_scope

logger = structlog.get_logger(__name__)

FAN_OUT_TASK = "webhooks.fan_out"
DISPATCH_TASK = "webhooks.dispatch_due"
PURGE_TASK = "webhooks.purge_deliveries"
REENCRYPT_TASK = "webhooks.reencrypt_secrets"
DISPATCH_BATCH_SIZE = 200
REENCRYPT_BATCH_SIZE = 200

for _event_type in pipeline.EVENT_TYPES:
    outbox.subscribe(_event_type, FAN_OUT_TASK)


class _Process:
    """The tools and sender of this worker process, rebuilt if the settings object changes
    (tests swap settings; a deployed worker builds them once)."""

    settings: Settings | None = None
    tools: WebhookTools
    sender: WebhookSender

    @classmethod
    def get(cls) -> tuple[WebhookTools, WebhookSender]:
        settings = get_settings()
        if cls.settings is not settings:
            cls.tools = WebhookTools.from_settings(settings)
            cls.sender = WebhookSender.from_settings(settings)
            cls.settings = settings
        return cls.tools, cls.sender


@shared_task(
    name=FAN_OUT_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # The outbox has handed the event over: if the database is briefly unavailable, try again
    # rather than lose it. A rerun is harmless (deliveries are unique per endpoint and event).
    autoretry_for=(sa_exc.OperationalError, sa_exc.InterfaceError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def fan_out(self: Task[Any, int], /, **event: Any) -> int:
    """Subscriber of the order events: creates their deliveries. Returns how many."""
    publish = outbox.celery_publisher(self.app)

    async def fan_out_event() -> int:
        async with session_scope() as session:
            return await pipeline.fan_out(
                session,
                publish,
                event_id=uuid.UUID(event["event_id"]),
                event_type=event["event_type"],
                occurred_at=event["occurred_at"],
                payload=event["payload"],
            )

    return run(fan_out_event())


@shared_task(
    name=pipeline.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def deliver(delivery_id: str, attempt: int) -> str:
    """Makes attempt number `attempt` of the delivery if it is still to be made; returns the
    outcome ("skipped" if there was nothing to do)."""
    return run(_deliver(uuid.UUID(delivery_id), attempt))


async def _deliver(delivery_id: uuid.UUID, attempt: int) -> str:
    tools, sender = _Process.get()
    async with session_scope() as session:
        claim = await pipeline.claim_attempt(
            session, tools, delivery_id=delivery_id, attempt=attempt
        )
    if claim is None:
        return "skipped"
    attempted_at = datetime.now(UTC)
    try:
        body, headers = pipeline.signed_message(tools, claim, at=attempted_at)
    except InvalidToken:
        # No key of WEBHOOKS_ENCRYPTION_KEYS opens the secret (one was dropped before
        # `webhooks.reencrypt_secrets` ran). Nothing is sent; recorded as a failed attempt, so
        # the delivery follows its schedule and ends instead of being retried forever.
        logger.exception("webhook_secret_unreadable", endpoint_id=str(claim.endpoint_id))
        result = AttemptResult(status_code=None, duration_ms=0, error=pipeline.UNSIGNABLE)
    else:
        result = await sender.send(claim.url, body=body, headers=headers)
    async with session_scope() as session:
        return await pipeline.record_attempt(
            session, tools, claim, result, attempted_at=attempted_at
        )


@shared_task(
    name=DISPATCH_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def dispatch_due(self: Task[Any, int]) -> int:
    """Queues every due attempt, a batch per transaction; returns how many."""
    settings = get_settings().webhooks
    publish = outbox.celery_publisher(self.app)
    redispatch_after = timedelta(seconds=settings.redispatch_after_seconds)

    async def dispatch_all() -> int:
        total = 0
        while True:
            async with session_scope() as session:
                dispatched = await pipeline.dispatch_due(
                    session,
                    publish,
                    redispatch_after=redispatch_after,
                    batch_size=DISPATCH_BATCH_SIZE,
                )
            total += dispatched
            if dispatched < DISPATCH_BATCH_SIZE:
                return total

    return run(dispatch_all())


@shared_task(name=PURGE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def purge_deliveries() -> int:
    days = get_settings().webhooks.delivery_retention_days

    async def purge() -> int:
        async with session_scope() as session:
            return await pipeline.purge_deliveries(session, older_than=timedelta(days=days))

    purged = run(purge())
    logger.info("webhook_deliveries_purged", deliveries=purged)
    return purged


@shared_task(name=REENCRYPT_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def reencrypt_secrets() -> int:
    """After a new key was put first in WEBHOOKS_ENCRYPTION_KEYS: re-encrypts every endpoint
    secret under it, a batch per transaction, so the old key can be dropped. Returns how many
    changed. `celery -A worker.celery_app call webhooks.reencrypt_secrets`"""
    tools, _ = _Process.get()

    async def reencrypt_all() -> int:
        total, after = 0, None
        while True:
            async with session_scope() as session:
                changed, after = await pipeline.reencrypt_secrets(
                    session, tools.box, after=after, limit=REENCRYPT_BATCH_SIZE
                )
            total += changed
            if after is None:
                return total

    changed = run(reencrypt_all())
    logger.info("webhook_secrets_reencrypted", endpoints=changed)
    return changed

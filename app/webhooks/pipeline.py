"""The delivery pipeline, run by the worker: fan-out of order events into deliveries, the
dispatcher of due attempts, one attempt's claim and record, retries, disabling, maintenance.

Takes a session and plain values, flushes but never commits. Receivers are called *between*
transactions (by the task, `app/webhooks/tasks.py`), never while a row lock or a transaction is
held open across the network.

The life of a delivery:

1. `fan_out` (an order event, relayed from the outbox): one pending delivery per enabled
   endpoint of the order's customer subscribed to the event type, unique per (endpoint,
   event); its first attempt is queued after the commit.
2. `claim_attempt`: attempt N may start if the delivery is pending, N is its next attempt
   number and it is due; the claim pushes `next_attempt_at` past the attempt's deadline (a
   lease), so a duplicate message finds it not due and does nothing.
3. the task sends the signed message (`app/webhooks/sender.py`);
4. `record_attempt`: the attempt is stored; 2xx: succeeded; 410 Gone: failed, endpoint
   disabled; anything else: a retry is due after the next wait of the schedule (jittered),
   or, once the schedule is used up, failed, counting toward disabling the endpoint.
5. `dispatch_due` (Celery beat, every few seconds) queues every due attempt: retries, and
   attempts whose worker died (their lease ran out) or whose message was lost.

The database is the scheduler: a retry is a timestamp, not a delayed broker message. A message
with a countdown of hours would outlive the Redis broker's visibility timeout (and be delivered
twice) and would be lost with the broker; a timestamp and a dispatcher are neither.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import on_commit
from app.core.ids import new_id
from app.core.metrics import WEBHOOK_ATTEMPTS
from app.core.outbox import Publish
from app.models import (
    DeliveryFailure,
    DeliveryStatus,
    DisabledReason,
    WebhookDelivery,
    WebhookDeliveryAttempt,
)
from app.orders import service as orders
from app.webhooks import repository
from app.webhooks.sender import AttemptResult
from app.webhooks.signing import SecretBox, signature_headers
from app.webhooks.tools import WebhookTools

logger = structlog.get_logger(__name__)

DELIVER_TASK = "webhooks.deliver"
EVENT_TYPES: tuple[str, ...] = orders.ORDER_EVENTS
JITTER = 0.2  # each retry wait is drawn from +-20% of the scheduled one: no thundering herd
UNSIGNABLE = "not sent: the signing secret can't be decrypted with the configured keys"
# A message may reach a worker whose clock is a little behind the dispatcher's: an attempt
# this close to due counts as due (far below the lease, which duplicates must still respect).
CLOCK_SKEW = timedelta(seconds=5)

AttemptOutcome = Literal["succeeded", "retrying", "failed", "superseded"]


# --- fan-out and dispatch ------------------------------------------------------------------


async def fan_out(
    session: AsyncSession,
    publish: Publish,
    *,
    event_id: uuid.UUID,
    event_type: str,
    occurred_at: str,
    payload: Mapping[str, Any],
) -> int:
    """Creates a pending delivery of the event for every enabled endpoint of the order's
    customer (`payload["customer_id"]`) subscribed to its type, and queues their first
    attempts after the commit. Returns how many it created. Idempotent: the outbox may hand
    the same event over twice, and the second time creates (and queues) nothing."""
    owner = payload.get("customer_id")
    if event_type not in EVENT_TYPES or owner is None:
        logger.warning("webhook_event_ignored", event_id=str(event_id), event_type=event_type)
        return 0
    endpoints = await repository.subscribed_endpoints(
        session, owner_id=uuid.UUID(str(owner)), event_type=event_type
    )
    now = _now()
    # The Standard Webhooks payload shape: what happened, when, and the object it happened to.
    message = {"type": event_type, "timestamp": occurred_at, "data": dict(payload)}
    created = await repository.insert_deliveries(
        session,
        [
            {
                "id": new_id(),
                "endpoint_id": endpoint.id,
                "event_id": event_id,
                "event_type": event_type,
                "payload": message,
                "next_attempt_at": now,
                "dispatched_at": now,
            }
            for endpoint in endpoints
        ],
    )
    queue_after_commit(session, publish, created)
    logger.info(
        "webhook_event_fanned_out",
        event_id=str(event_id),
        event_type=event_type,
        deliveries=len(created),
    )
    return len(created)


async def dispatch_due(
    session: AsyncSession, publish: Publish, *, redispatch_after: timedelta, batch_size: int
) -> int:
    """Marks up to `batch_size` due deliveries as queued and queues their next attempt after
    the commit (never before: the attempt must find the mark committed). Returns how many.
    A message lost on the way (the broker down at that moment) is queued again after
    `redispatch_after`; a duplicate is harmless (the attempt is claimed once)."""
    now = _now()
    due = await repository.lock_due_deliveries(
        session, now=now, redispatch_before=now - redispatch_after, limit=batch_size
    )
    await repository.mark_dispatched(session, [delivery.id for delivery in due], at=now)
    queue_after_commit(session, publish, due)
    return len(due)


def queue_after_commit(
    session: AsyncSession, publish: Publish, deliveries: Sequence[WebhookDelivery]
) -> None:
    """Queues the next attempt of each delivery once the transaction has committed (the
    attempt must find the delivery as committed). A failed publish is logged by `commit`."""
    messages = [
        {"delivery_id": str(delivery.id), "attempt": delivery.attempt_count + 1}
        for delivery in deliveries
    ]
    if not messages:
        return

    async def dispatch() -> None:
        for kwargs in messages:
            # The broker client blocks (and fails within seconds when Redis is down): off the
            # event loop. A failure is logged by `commit`; the dispatcher queues it again.
            await asyncio.to_thread(publish, DELIVER_TASK, kwargs)

    on_commit(session, dispatch)


# --- attempts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """Attempt `attempt` of a delivery, claimed: what the task needs to make it."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    attempt: int
    url: str
    secret_ciphertext: str
    msg_id: str
    payload: dict[str, Any]


async def claim_attempt(
    session: AsyncSession, tools: WebhookTools, *, delivery_id: uuid.UUID, attempt: int
) -> Claim | None:
    """Claims attempt number `attempt` of the delivery, or returns None if there is nothing to
    do: the delivery is gone, finished, past that attempt, not due (another worker holds the
    attempt, or the message is a duplicate), or its endpoint is disabled (the delivery fails).

    The claim moves `next_attempt_at` to the end of the attempt's lease (its deadline plus a
    margin): if the worker dies mid-attempt, the attempt is due again then and the dispatcher
    hands it to another worker. So every attempt is made at least once, and a redelivered or
    duplicated message never makes one twice while the first may still be running.
    """
    delivery = await repository.lock_delivery_skip_locked(session, delivery_id)
    now = _now()
    if (
        delivery is None
        or delivery.status != DeliveryStatus.PENDING
        or delivery.attempt_count + 1 != attempt
        or delivery.next_attempt_at is None
        or delivery.next_attempt_at > now + CLOCK_SKEW
    ):
        return None
    endpoint = await repository.get_endpoint(session, delivery.endpoint_id)
    if endpoint is None:
        return None
    if not endpoint.is_enabled:
        _finish(delivery, DeliveryStatus.FAILED, DeliveryFailure.ENDPOINT_DISABLED)
        await session.flush()
        logger.info("webhook_delivery_dropped", delivery_id=str(delivery_id), reason="disabled")
        return None
    delivery.next_attempt_at = now + tools.lease
    delivery.dispatched_at = None
    await session.flush()
    return Claim(
        delivery_id=delivery.id,
        endpoint_id=endpoint.id,
        attempt=attempt,
        url=endpoint.url,
        secret_ciphertext=endpoint.secret_ciphertext,
        msg_id=str(delivery.event_id),
        payload=delivery.payload,
    )


def signed_message(
    tools: WebhookTools, claim: Claim, *, at: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and the Standard Webhooks headers of the claimed attempt, signed for `at`
    (the receiver checks the timestamp, so it is signed right before sending)."""
    body = orjson.dumps(claim.payload)
    secret = tools.box.decrypt(claim.secret_ciphertext)
    headers = signature_headers(secret, msg_id=claim.msg_id, body=body.decode(), at=at)
    return body, headers


async def record_attempt(
    session: AsyncSession,
    tools: WebhookTools,
    claim: Claim,
    result: AttemptResult,
    *,
    attempted_at: datetime,
) -> AttemptOutcome:
    """Stores the attempt and moves the delivery on: succeeded (2xx), failed with the endpoint
    disabled (410 Gone), a retry due after the next wait of the schedule, or failed when the
    schedule is used up (counted against the endpoint, which is disabled when the count
    reaches WEBHOOKS_DISABLE_AFTER_FAILURES; any success resets it). "superseded": the
    delivery was deleted meanwhile, or this attempt was already recorded (its lease ran out and
    another worker made it), so nothing is written."""
    # Lock order: the endpoint (KEY SHARE: only deleting it waits) before the delivery.
    endpoint = await repository.key_share_endpoint_of(session, claim.delivery_id)
    delivery = await repository.lock_delivery(session, claim.delivery_id)
    if (
        endpoint is None
        or delivery is None
        or delivery.status != DeliveryStatus.PENDING
        or delivery.attempt_count + 1 != claim.attempt
    ):
        logger.warning("webhook_attempt_superseded", delivery_id=str(claim.delivery_id))
        return "superseded"
    session.add(
        WebhookDeliveryAttempt(
            delivery_id=delivery.id,
            number=claim.attempt,
            attempted_at=attempted_at,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
        )
    )
    delivery.attempt_count = claim.attempt
    outcome = await _advance(session, tools, delivery, result)
    await session.flush()
    WEBHOOK_ATTEMPTS.labels(outcome=outcome).inc()
    logger.info(
        "webhook_attempt",
        delivery_id=str(delivery.id),
        endpoint_id=str(endpoint.id),
        attempt=claim.attempt,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        outcome=outcome,
    )
    return outcome


async def _advance(
    session: AsyncSession, tools: WebhookTools, delivery: WebhookDelivery, result: AttemptResult
) -> AttemptOutcome:
    schedule = tools.settings.retry_schedule_seconds
    if result.succeeded:
        _finish(delivery, DeliveryStatus.SUCCEEDED)
        await repository.reset_failures(session, delivery.endpoint_id)
        return "succeeded"
    if result.gone:
        _finish(delivery, DeliveryStatus.FAILED, DeliveryFailure.ENDPOINT_GONE)
        await _disable(session, delivery.endpoint_id, DisabledReason.GONE)
        return "failed"
    if delivery.retry_count < len(schedule):
        wait = retry_wait(schedule, delivery.retry_count, retry_after=result.retry_after)
        delivery.retry_count += 1
        delivery.next_attempt_at = _now() + wait
        delivery.dispatched_at = None
        return "retrying"
    _finish(delivery, DeliveryStatus.FAILED, DeliveryFailure.RETRIES_EXHAUSTED)
    failures = await repository.add_failure(session, delivery.endpoint_id)
    if failures >= tools.settings.disable_after_failures:
        await _disable(session, delivery.endpoint_id, DisabledReason.FAILING)
    return "failed"


def retry_wait(
    schedule: Sequence[float], retry_index: int, *, retry_after: float | None = None
) -> timedelta:
    """The wait before retry number `retry_index + 1`: the scheduled one +-JITTER, or longer if
    the receiver asked for longer (429/503 `Retry-After`), up to the schedule's longest wait."""
    wait = schedule[retry_index] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter
    if retry_after is not None:
        wait = max(wait, min(retry_after, max(schedule)))
    return timedelta(seconds=wait)


async def _disable(session: AsyncSession, endpoint_id: uuid.UUID, reason: DisabledReason) -> None:
    if await repository.disable(session, endpoint_id, reason=reason.value):
        logger.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint_id), reason=reason)


def _finish(
    delivery: WebhookDelivery, status: DeliveryStatus, reason: DeliveryFailure | None = None
) -> None:
    delivery.status = status.value
    delivery.failure_reason = reason.value if reason else None
    delivery.next_attempt_at = None
    delivery.dispatched_at = None


# --- maintenance -----------------------------------------------------------------------------


async def purge_deliveries(session: AsyncSession, *, older_than: timedelta) -> int:
    """Deletes deliveries that finished more than `older_than` ago, with their attempts."""
    return await repository.purge_finished(session, finished_before=_now() - older_than)


async def reencrypt_secrets(
    session: AsyncSession, box: SecretBox, *, after: uuid.UUID | None, limit: int
) -> tuple[int, uuid.UUID | None]:
    """Re-encrypts, under the first encryption key, the secrets of up to `limit` endpoints
    after `after` (id order). Returns how many changed and where to continue (None: done)."""
    endpoints = await repository.endpoints_batch(session, after=after, limit=limit)
    changed = 0
    for endpoint in endpoints:
        reencrypted = box.reencrypt(endpoint.secret_ciphertext)
        if reencrypted is not None:
            endpoint.secret_ciphertext = reencrypted
            changed += 1
    await session.flush()
    return changed, (endpoints[-1].id if len(endpoints) == limit else None)


def _now() -> datetime:
    return datetime.now(UTC)

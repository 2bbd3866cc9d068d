"""The transactional outbox: domain events written with the data, delivered after the commit.

A service that changes state calls `add_event(session, ...)` in the same transaction, so the
event exists if and only if the change was committed: there is no "saved the order but lost
the message" (or the reverse). The relay then hands each event to Celery, one task per
subscriber, and marks it published:

- right after the commit, nudged through `on_commit` (the usual path: milliseconds);
- every `OUTBOX_RELAY_INTERVAL_SECONDS` from Celery beat (the path when the nudge was lost,
  e.g. the broker was down when the transaction committed).

Delivery is at least once. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so concurrent
relays never publish the same event twice; but a relay that dies after publishing and before
its commit leaves the event unpublished, and the next relay publishes it again. Subscribers
are therefore idempotent (they check state first; see docs/guides/idempotency-retries.md).

Subscribing (any domain, from its `tasks.py`, which the worker imports at start-up):

    outbox.subscribe("order.paid", "webhooks.fan_out")

and the task receives `event_id`, `event_type`, `aggregate_id`, `occurred_at` and `payload` as
keyword arguments. See docs/adr/0006-transactional-outbox.md.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from celery import Celery
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import on_commit
from app.models.outbox import OutboxEvent

logger = structlog.get_logger(__name__)

RELAY_TASK = "outbox.relay"

# Publishes one Celery task by name with keyword arguments; raises if the broker refuses.
Publish = Callable[[str, Mapping[str, Any]], None]
Nudge = Callable[[], Awaitable[None]]

_subscriptions: defaultdict[str, list[str]] = defaultdict(list)
_nudge: Nudge | None = None


def subscribe(event_type: str, task_name: str) -> None:
    """Delivers every future `event_type` event to the Celery task named `task_name`.

    Called at import time by a domain's `tasks.py` (the worker autodiscovers them), so the
    relay, which runs in the worker, knows every subscriber. Subscribing twice is harmless.
    """
    if task_name not in _subscriptions[event_type]:
        _subscriptions[event_type].append(task_name)


def subscribers(event_type: str) -> tuple[str, ...]:
    return tuple(_subscriptions.get(event_type, ()))


def set_nudge(nudge: Nudge | None) -> None:
    """Sets what `add_event` runs after a commit to wake the relay (None: rely on beat).

    The API's lifespan and the worker set it to "send one `outbox.relay` task"; tests that
    want to drive the relay by hand leave it unset.
    """
    global _nudge  # noqa: PLW0603 - one per process, like the subscription registry
    _nudge = nudge


async def add_event(
    session: AsyncSession,
    event_type: str,
    *,
    aggregate_id: uuid.UUID,
    payload: Mapping[str, Any],
) -> OutboxEvent:
    """Records an event in the caller's transaction; it is relayed only if that commits."""
    event = OutboxEvent(event_type=event_type, aggregate_id=aggregate_id, payload=dict(payload))
    session.add(event)
    if _nudge is not None:
        # A nudge is one tiny message and the relay is idempotent, so a transaction that
        # writes two events may wake it twice: simpler than deduplicating.
        on_commit(session, _nudge)
    return event


def celery_nudge(celery: Celery) -> Nudge:
    """A nudge that sends one `outbox.relay` task, off the event loop, without retrying: if the
    broker is down it fails within seconds (logged by `commit`) and beat relays later."""

    async def nudge() -> None:
        await asyncio.to_thread(celery.send_task, RELAY_TASK, retry=False, expires=60)

    return nudge


def celery_publisher(celery: Celery) -> Publish:
    """Publishes a subscriber task; a broker error raises, leaving the event for the next run."""

    def publish(task_name: str, kwargs: Mapping[str, Any]) -> None:
        celery.send_task(task_name, kwargs=dict(kwargs), retry=False)

    return publish


@dataclass(frozen=True)
class RelayResult:
    published: int
    failed: int


def task_kwargs(event: OutboxEvent) -> dict[str, Any]:
    """What a subscriber task receives: the event, self-describing and JSON-serializable."""
    return {
        "event_id": str(event.id),
        "event_type": event.event_type,
        "aggregate_id": str(event.aggregate_id),
        "occurred_at": event.created_at.isoformat(),
        "payload": event.payload,
    }


async def relay(session: AsyncSession, publish: Publish, *, batch_size: int) -> RelayResult:
    """Publishes up to `batch_size` unpublished events, oldest first, and marks them published.

    The rows stay locked (`FOR UPDATE SKIP LOCKED`) until the caller commits, so another relay
    running at the same time takes the next rows instead of the same ones. An event whose
    publication fails stays unpublished for the next run, and so does every later event of the
    batch: events keep their order and a dead broker isn't asked a hundred times.
    """
    events = (
        await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
    ).all()
    published: list[uuid.UUID] = []
    failed = 0
    for event in events:
        try:
            for task_name in subscribers(event.event_type):
                publish(task_name, task_kwargs(event))
        except Exception as exc:  # noqa: BLE001 - any broker failure: retried on the next run
            logger.warning(
                "outbox_publish_failed",
                event_id=str(event.id),
                event_type=event.event_type,
                error=type(exc).__name__,
            )
            failed = len(events) - len(published)
            break
        published.append(event.id)
    if published:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(published))
            .values(published_at=datetime.now(UTC))
        )
        logger.info("outbox_relayed", published=len(published))
    return RelayResult(published=len(published), failed=failed)


async def purge_published(session: AsyncSession, *, older_than: timedelta) -> int:
    """Deletes events published more than `older_than` ago; returns how many."""
    cutoff = datetime.now(UTC) - older_than
    result = await session.execute(
        delete(OutboxEvent).where(OutboxEvent.published_at < cutoff).returning(OutboxEvent.id)
    )
    return len(result.all())

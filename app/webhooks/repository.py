"""Named queries of webhook endpoints and deliveries, with their locks and eager loads.

Lock order, everywhere: an endpoint before its deliveries. Deleting an endpoint locks it and
then (cascading) its deliveries; an attempt takes `FOR KEY SHARE` on its endpoint before it
locks its delivery, so the two can't wait on each other in a cycle. `FOR KEY SHARE` only
blocks deleting the endpoint: attempts to one endpoint don't wait for each other, and
enabling or disabling it doesn't wait for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


async def lock_owner_endpoints(session: AsyncSession, owner_id: uuid.UUID) -> None:
    """Serializes creating endpoints per owner until the transaction ends, so two concurrent
    creations can't both pass the per-owner limit (a transaction-level advisory lock on the
    owner: nothing else to lock exists before the first endpoint does)."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"webhooks:{owner_id}", 0)))
    )


async def count_endpoints(session: AsyncSession, owner_id: uuid.UUID) -> int:
    query = select(func.count()).where(WebhookEndpoint.owner_id == owner_id)
    return int(await session.scalar(query) or 0)


async def page_endpoints(
    session: AsyncSession, *, owner_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[WebhookEndpoint]:
    """The owner's endpoints in creation order, `limit + 1` to detect a next page."""
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.owner_id == owner_id)
        .order_by(WebhookEndpoint.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(WebhookEndpoint.id > after)
    return list((await session.scalars(query)).all())


async def get_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id, populate_existing=True)


async def subscribed_endpoints(
    session: AsyncSession, *, owner_id: uuid.UUID, event_type: str
) -> list[WebhookEndpoint]:
    """The owner's enabled endpoints that receive `event_type` (the owner index finds the
    handful of candidates; the array test filters them)."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.owner_id == owner_id,
        WebhookEndpoint.disabled_at.is_(None),
        WebhookEndpoint.event_types.any_() == event_type,
    )
    return list((await session.scalars(query)).all())


async def insert_deliveries(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> list[WebhookDelivery]:
    """Inserts the deliveries that don't exist yet (by endpoint and event) and returns those
    it inserted: running twice for the same event inserts nothing the second time."""
    if not rows:
        return []
    statement = (
        insert(WebhookDelivery)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        .returning(WebhookDelivery)
    )
    return list((await session.scalars(statement)).all())


async def get_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id, populate_existing=True)


async def lock_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """The delivery, row-locked until the transaction ends (waiting for the current holder)."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return await session.scalar(query)


async def key_share_endpoint_of(
    session: AsyncSession, delivery_id: uuid.UUID
) -> WebhookEndpoint | None:
    """The delivery's endpoint, locked `FOR KEY SHARE` (it can't be deleted until the
    transaction ends); None if the delivery or the endpoint is gone."""
    query = (
        select(WebhookEndpoint)
        .join(WebhookDelivery, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update(read=True, key_share=True, of=WebhookEndpoint)
        .execution_options(populate_existing=True)
    )
    return await session.scalar(query)


async def lock_delivery_skip_locked(
    session: AsyncSession, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    """The delivery, row-locked until the transaction ends; None if it doesn't exist or
    another attempt holds it (that attempt is the one to make)."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return await session.scalar(query)


async def page_deliveries(
    session: AsyncSession, *, endpoint_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> list[WebhookDelivery]:
    """The endpoint's deliveries newest first, with their attempts in one more query,
    `limit + 1` to detect a next page."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .options(selectinload(WebhookDelivery.attempts))
        .order_by(WebhookDelivery.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    return list((await session.scalars(query)).all())


async def with_attempts(session: AsyncSession, delivery_id: uuid.UUID) -> WebhookDelivery:
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .options(selectinload(WebhookDelivery.attempts))
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).one()


async def lock_due_deliveries(
    session: AsyncSession, *, now: datetime, redispatch_before: datetime, limit: int
) -> list[WebhookDelivery]:
    """Pending deliveries whose next attempt is due and not queued (or queued so long ago
    that the message must have been lost), most overdue first, row-locked (`SKIP LOCKED`:
    concurrent dispatchers take different rows, and a delivery being attempted is skipped)."""
    query = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(
                WebhookDelivery.dispatched_at.is_(None),
                WebhookDelivery.dispatched_at < redispatch_before,
            ),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def mark_dispatched(
    session: AsyncSession, delivery_ids: Sequence[uuid.UUID], *, at: datetime
) -> None:
    if delivery_ids:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(delivery_ids))
            .values(dispatched_at=at)
        )


async def add_failure(session: AsyncSession, endpoint_id: uuid.UUID) -> int:
    """Counts one more delivery that failed for good; returns the run's length. Atomic, so
    concurrent attempts to one endpoint never lose a count."""
    count = await session.scalar(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
        .returning(WebhookEndpoint.consecutive_failures)
    )
    return int(count or 0)


async def reset_failures(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    # Only if there is something to reset: the common case (a healthy endpoint) writes nothing.
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.consecutive_failures > 0)
        .values(consecutive_failures=0)
    )


async def disable(session: AsyncSession, endpoint_id: uuid.UUID, *, reason: str) -> bool:
    """Disables the endpoint if it is enabled; True if this call disabled it."""
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.disabled_at.is_(None))
        .values(disabled_at=func.now(), disabled_reason=reason)
        .returning(WebhookEndpoint.id)
    )
    return result.first() is not None


async def endpoints_batch(
    session: AsyncSession, *, after: uuid.UUID | None, limit: int
) -> list[WebhookEndpoint]:
    """Every endpoint, `limit` at a time in id order, locked `FOR NO KEY UPDATE` (key rotation
    rewrites them; attempts in flight, holding `FOR KEY SHARE`, don't block it)."""
    query = (
        select(WebhookEndpoint)
        .order_by(WebhookEndpoint.id)
        .limit(limit)
        .with_for_update(key_share=True)
    )
    if after is not None:
        query = query.where(WebhookEndpoint.id > after)
    return list((await session.scalars(query)).all())


async def purge_finished(session: AsyncSession, *, finished_before: datetime) -> int:
    """Deletes deliveries (and, cascading, their attempts) that finished before the cutoff."""
    result = await session.execute(
        delete(WebhookDelivery)
        .where(
            WebhookDelivery.status != DeliveryStatus.PENDING,
            WebhookDelivery.updated_at < finished_before,
        )
        .returning(WebhookDelivery.id)
    )
    return len(result.all())

"""Named queries of the payments integration."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Payment, PaymentEvent


async def lock_payment_of(session: AsyncSession, order_id: uuid.UUID) -> Payment | None:
    """The order's payment, row-locked: the charge task and the callback take turns on it."""
    return await session.scalar(
        select(Payment)
        .where(Payment.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def create_payment_once(
    session: AsyncSession, *, order_id: uuid.UUID, amount: int, currency: str
) -> None:
    """Inserts the order's payment unless it exists (two deliveries of a task may race)."""
    await session.execute(
        insert(Payment)
        .values(order_id=order_id, amount=amount, currency=currency)
        .on_conflict_do_nothing(index_elements=[Payment.order_id])
    )


async def record_event_once(
    session: AsyncSession, *, provider_event_id: str, event_type: str, payment_id: uuid.UUID
) -> bool:
    """Records a provider event id; False if it was already recorded (a redelivery)."""
    inserted = await session.scalar(
        insert(PaymentEvent)
        .values(provider_event_id=provider_event_id, event_type=event_type, payment_id=payment_id)
        .on_conflict_do_nothing(index_elements=[PaymentEvent.provider_event_id])
        .returning(PaymentEvent.id)
    )
    return inserted is not None

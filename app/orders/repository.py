"""Named queries of the catalogue, orders and jobs, with their locks and eager loads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import Job, Order, OrderItem, Product


async def page_products(
    session: AsyncSession, *, after: uuid.UUID | None, limit: int, include_inactive: bool
) -> list[Product]:
    """Products in id order (creation order), `limit + 1` of them to detect a next page."""
    query = select(Product).order_by(Product.id).limit(limit + 1)
    if after is not None:
        query = query.where(Product.id > after)
    if not include_inactive:
        query = query.where(Product.is_active)
    return list((await session.scalars(query)).all())


async def get_product(session: AsyncSession, product_id: uuid.UUID) -> Product | None:
    return await session.get(Product, product_id)


async def lock_products(session: AsyncSession, product_ids: Sequence[uuid.UUID]) -> list[Product]:
    """The products, row-locked until the transaction ends, locked in id order.

    Every writer of stock locks in the same (id) order, so two orders for the same products
    wait for each other instead of deadlocking.
    """
    query = (
        select(Product)
        .where(Product.id.in_(product_ids))
        .order_by(Product.id)
        .with_for_update()
        # The rows may already be in the session from an earlier read: take the locked values.
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(query)).all())


async def return_stock(session: AsyncSession, quantities: dict[uuid.UUID, int]) -> None:
    """Adds the quantities back, in product id order (the lock order of `lock_products`)."""
    for product_id in sorted(quantities):
        await session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(stock=Product.stock + quantities[product_id])
        )


async def get_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    return await session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.items))
        .execution_options(populate_existing=True)
    )


async def lock_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    """The order with its lines, row-locked until the transaction ends (status changes)."""
    return await session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.items))
        .with_for_update(of=Order)
        .execution_options(populate_existing=True)
    )


async def page_orders(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID | None,
    before: uuid.UUID | None,
    limit: int,
) -> list[Order]:
    """Orders newest first (UUIDv7 ids), with their lines in one extra query, `limit + 1`.

    `customer_id=None` lists every customer's orders. The (customer_id, id) index serves both
    the filter and the order.
    """
    query = (
        select(Order).options(selectinload(Order.items)).order_by(Order.id.desc()).limit(limit + 1)
    )
    if customer_id is not None:
        query = query.where(Order.customer_id == customer_id)
    if before is not None:
        query = query.where(Order.id < before)
    return list((await session.scalars(query)).all())


async def stream_order_rows(
    session: AsyncSession, *, customer_id: uuid.UUID | None, batch_size: int = 500
) -> AsyncIterator[tuple[Order, OrderItem]]:
    """Every order line (with its order) oldest first, fetched in batches by a server-side
    cursor: an export of a million lines never holds them all in memory."""
    query = (
        select(Order, OrderItem)
        .join(OrderItem, OrderItem.order_id == Order.id)
        .order_by(Order.id, OrderItem.id)
        .execution_options(yield_per=batch_size)
    )
    if customer_id is not None:
        query = query.where(Order.customer_id == customer_id)
    result = await session.stream(query)
    async for order, item in result:
        yield order, item


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def lock_job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return await session.get(Job, job_id, with_for_update=True, populate_existing=True)

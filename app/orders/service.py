"""The catalogue and orders: stock, placing and cancelling orders, their payment outcome.

Takes a session and plain values, flushes but never commits, raises `app.orders.errors`.
Every change of an order's status writes its event to the outbox in the same transaction:
`order.created`, `order.paid`, `order.failed`, `order.cancelled` (payload: `order_payload`).

Lock order, everywhere: the order row first, then its products in id order. Placing an order
locks only products (the order is new), so no two transactions here can wait on each other in
a cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import outbox
from app.core.pagination import CursorCodec
from app.models import Order, OrderItem, OrderStatus, Product
from app.orders import repository
from app.orders.errors import (
    InsufficientStock,
    MixedCurrencies,
    OrderNotFound,
    OrderNotPending,
    ProductNotFound,
    SkuTaken,
    UnknownProducts,
)

logger = structlog.get_logger(__name__)

ORDER_CREATED = "order.created"
ORDER_PAID = "order.paid"
ORDER_FAILED = "order.failed"
ORDER_CANCELLED = "order.cancelled"
ORDER_EVENTS = (ORDER_CREATED, ORDER_PAID, ORDER_FAILED, ORDER_CANCELLED)

PRODUCTS_CURSOR = "products:id"
ORDERS_CURSOR = "orders:id-desc"


# --- products -----------------------------------------------------------------------------


async def list_products(
    session: AsyncSession,
    codec: CursorCodec,
    *,
    cursor: str | None,
    limit: int,
    include_inactive: bool,
) -> tuple[list[Product], str | None]:
    """A page of products in creation order and the next page's cursor (None at the end)."""
    after = codec.after_id(PRODUCTS_CURSOR, cursor)
    products = await repository.page_products(
        session, after=after, limit=limit, include_inactive=include_inactive
    )
    return codec.id_page(PRODUCTS_CURSOR, products, limit)


async def get_product(
    session: AsyncSession, product_id: uuid.UUID, *, include_inactive: bool
) -> Product:
    """The product with its current stock. Raises ProductNotFound (also for an inactive one,
    unless `include_inactive`)."""
    product = await repository.get_product(session, product_id)
    if product is None or not (product.is_active or include_inactive):
        raise ProductNotFound("No such product.")
    return product


async def find_product_id(session: AsyncSession, sku: str) -> uuid.UUID | None:
    return await session.scalar(select(Product.id).where(Product.sku == sku))


async def create_product(session: AsyncSession, **fields: Any) -> Product:
    """Creates a product. Raises SkuTaken (the unique constraint decides, race-free)."""
    product = Product(**fields)
    session.add(product)
    await _flush_product(session)
    logger.info("product_created", product_id=str(product.id), sku=product.sku)
    return product


async def update_product(
    session: AsyncSession, product_id: uuid.UUID, changes: dict[str, Any]
) -> Product:
    """Changes the given fields. Stock is set under the row lock, so a concurrent order can't
    interleave with it. Raises ProductNotFound. Past orders keep their price snapshot."""
    products = await repository.lock_products(session, [product_id])
    if not products:
        raise ProductNotFound("No such product.")
    product = products[0]
    for name, value in changes.items():
        setattr(product, name, value)
    await _flush_product(session)
    await session.refresh(product, ["updated_at"])
    logger.info("product_updated", product_id=str(product.id), fields=sorted(changes))
    return product


async def _flush_product(session: AsyncSession) -> None:
    try:
        await session.flush()
    except sa_exc.IntegrityError as error:
        if getattr(error.orig, "constraint_name", None) == "uq_products_sku" or (
            "uq_products_sku" in str(error.orig)
        ):
            raise SkuTaken("Another product already has this SKU.") from None
        raise


# --- orders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    product_id: uuid.UUID
    quantity: int


async def place_order(
    session: AsyncSession, *, customer_id: uuid.UUID, lines: Sequence[Line]
) -> Order:
    """Reserves stock and creates a `pending` order, its lines and its `order.created` event,
    all in the caller's transaction.

    The products are locked (`SELECT ... FOR UPDATE`, in id order) before their stock is read,
    so concurrent orders for the last units are serialized: exactly as many succeed as there
    is stock, and stock never goes negative (a CHECK constraint backs this up). Prices are
    copied into the lines. Raises UnknownProducts (422: missing or inactive), MixedCurrencies
    (422), InsufficientStock (409); in every case nothing has been written.
    """
    quantities = {line.product_id: line.quantity for line in lines}
    products = await repository.lock_products(session, list(quantities))
    found = {product.id: product for product in products if product.is_active}
    unknown = sorted(str(product_id) for product_id in quantities if product_id not in found)
    if unknown:
        raise UnknownProducts(
            "Some products don't exist or are no longer sold.", product_ids=unknown
        )
    currencies = {product.currency for product in products}
    if len(currencies) > 1:
        raise MixedCurrencies(
            f"One order is paid in one currency; these products are in {sorted(currencies)}."
        )
    short = [product for product in products if product.stock < quantities[product.id]]
    if short:
        raise InsufficientStock(
            "Not enough stock for some products.",
            products=[
                {"product_id": str(product.id), "available": product.stock} for product in short
            ],
        )
    for product in products:
        product.stock -= quantities[product.id]
    order = Order(
        customer_id=customer_id,
        status=OrderStatus.PENDING.value,
        currency=currencies.pop(),
        total_amount=sum(product.price_amount * quantities[product.id] for product in products),
        items=[
            OrderItem(
                product_id=product.id,
                quantity=quantities[product.id],
                unit_price_amount=product.price_amount,
            )
            for product in products
        ],
    )
    session.add(order)
    await session.flush()
    await outbox.add_event(
        session, ORDER_CREATED, aggregate_id=order.id, payload=order_payload(order)
    )
    logger.info("order_placed", order_id=str(order.id), total=order.total_amount)
    return order


def order_payload(order: Order) -> dict[str, Any]:
    """The order as every `order.*` event carries it (and webhooks will deliver it)."""
    return {
        "order_id": str(order.id),
        "customer_id": str(order.customer_id),
        "status": order.status,
        "total_amount": order.total_amount,
        "currency": order.currency,
        "items": [
            {
                "product_id": str(item.product_id),
                "quantity": item.quantity,
                "unit_price_amount": item.unit_price_amount,
            }
            for item in order.items
        ],
    }


async def get_order(
    session: AsyncSession, order_id: uuid.UUID, *, customer_id: uuid.UUID | None
) -> Order:
    """The order with its lines. `customer_id` restricts to that customer's orders (None: any).
    Raises OrderNotFound, also for someone else's order: its existence is not disclosed."""
    order = await repository.get_order(session, order_id)
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise OrderNotFound("No such order.")
    return order


async def list_orders(
    session: AsyncSession,
    codec: CursorCodec,
    *,
    customer_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Order], str | None]:
    """A page of orders, newest first; `customer_id=None` lists everyone's."""
    before = codec.after_id(ORDERS_CURSOR, cursor)  # newest first: "after" is older
    orders = await repository.page_orders(
        session, customer_id=customer_id, before=before, limit=limit
    )
    return codec.id_page(ORDERS_CURSOR, orders, limit)


async def has_orders(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    return bool(
        await repository.page_orders(session, customer_id=customer_id, before=None, limit=0)
    )


async def cancel_order(
    session: AsyncSession, *, order_id: uuid.UUID, customer_id: uuid.UUID
) -> Order:
    """Cancels the customer's pending order and returns its stock. Raises OrderNotFound,
    OrderNotPending (409: paid, failed or already cancelled)."""
    order = await repository.lock_order(session, order_id)
    if order is None or order.customer_id != customer_id:
        raise OrderNotFound("No such order.")
    if order.status != OrderStatus.PENDING:
        raise OrderNotPending(f"Only pending orders can be cancelled; this one is {order.status}.")
    await _close(session, order, OrderStatus.CANCELLED, ORDER_CANCELLED, release_stock=True)
    return order


# --- payment outcome (called by app.integrations) -----------------------------------------


@dataclass(frozen=True)
class PayableOrder:
    order_id: uuid.UUID
    status: str
    amount: int
    currency: str
    placed_at: datetime

    @property
    def is_pending(self) -> bool:
        return self.status == OrderStatus.PENDING


async def payable_order(session: AsyncSession, order_id: uuid.UUID) -> PayableOrder | None:
    """What the payment integration needs to know about an order; None if it doesn't exist."""
    order = await repository.get_order(session, order_id)
    if order is None:
        return None
    return PayableOrder(
        order_id=order.id,
        status=order.status,
        amount=order.total_amount,
        currency=order.currency,
        placed_at=order.created_at,
    )


async def mark_paid(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """`pending` -> `paid` with an `order.paid` event. Idempotent: False (and no change) if the
    order is already paid or otherwise closed."""
    order = await repository.lock_order(session, order_id)
    if order is None or order.status != OrderStatus.PENDING:
        if order is not None and order.status != OrderStatus.PAID:
            # Charged after it was cancelled or failed: money taken for a closed order. The
            # provider holds the charge; an operator refunds it (refunds are not automated).
            logger.error("payment_for_closed_order", order_id=str(order_id), status=order.status)
        return False
    await _close(session, order, OrderStatus.PAID, ORDER_PAID, release_stock=False)
    return True


async def mark_failed(session: AsyncSession, order_id: uuid.UUID, *, reason: str) -> bool:
    """`pending` -> `failed`: its stock is returned and `order.failed` emitted. Idempotent:
    False (and no change) if the order is no longer pending."""
    order = await repository.lock_order(session, order_id)
    if order is None or order.status != OrderStatus.PENDING:
        return False
    await _close(
        session, order, OrderStatus.FAILED, ORDER_FAILED, release_stock=True, reason=reason
    )
    return True


async def _close(
    session: AsyncSession,
    order: Order,
    status: OrderStatus,
    event_type: str,
    *,
    release_stock: bool,
    reason: str | None = None,
) -> None:
    if release_stock:
        await repository.return_stock(
            session, {item.product_id: item.quantity for item in order.items}
        )
    order.status = status.value
    await session.flush()
    await session.refresh(order, ["updated_at"])
    payload = order_payload(order) | ({"reason": reason} if reason else {})
    await outbox.add_event(session, event_type, aggregate_id=order.id, payload=payload)
    logger.info("order_status_changed", order_id=str(order.id), status=status.value)

"""The catalogue and orders: products, orders and their lines.

Money is an integer amount of the currency's minor unit (cents) plus an ISO 4217 code, never a
float. Stock can't go negative and a line's quantity can't be zero: the database refuses both,
so no code path (or race) can store them.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Entity

CURRENCY_CHECK = "currency ~ '^[A-Z]{3}$'"


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Product(Entity, Base):
    """Something for sale. `stock` is decremented by orders under a row lock. No column is
    nullable; `is_active = false` hides a product from the catalogue without deleting it (order
    lines keep referring to it)."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint(CURRENCY_CHECK, name="currency_iso4217"),
        CheckConstraint("sku ~ '^[A-Z0-9][A-Z0-9-]{0,63}$'", name="sku_format"),
        CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
    )

    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_amount: Mapped[int] = mapped_column(BigInteger, doc="Price in minor units (cents).")
    currency: Mapped[str] = mapped_column(String(3), doc="ISO 4217 code, upper case.")
    stock: Mapped[int]
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Order(Entity, Base):
    """A customer's order. Created `pending` with its stock reserved; becomes `paid` or
    `failed` through the payment provider, or `cancelled` by its customer while pending.
    `total_amount` is the sum of its lines, in `currency`. No column is nullable."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'paid', 'failed', 'cancelled')", name="status_known"
        ),
        CheckConstraint("total_amount >= 0", name="total_not_negative"),
        CheckConstraint(CURRENCY_CHECK, name="currency_iso4217"),
        # A customer's orders, newest first, by keyset: also the index of the foreign key.
        Index("ix_orders_customer_id_id", "customer_id", "id"),
    )

    # RESTRICT: orders are financial records; a user with orders is deactivated, not deleted.
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), server_default=OrderStatus.PENDING.value)
    total_amount: Mapped[int] = mapped_column(BigInteger, doc="Sum of the lines, minor units.")
    currency: Mapped[str] = mapped_column(String(3))

    items: Mapped[list[OrderItem]] = relationship(
        lazy="raise", order_by="OrderItem.id", back_populates="order"
    )


class OrderItem(Entity, Base):
    """One line of an order. `unit_price_amount` is the product's price when the order was
    placed (a snapshot: later price changes don't rewrite history). No column is nullable."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_amount >= 0", name="unit_price_not_negative"),
        # One line per product; its leading column indexes the order_id foreign key.
        Index("uq_order_items_order_id_product_id", "order_id", "product_id", unique=True),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    # RESTRICT: a product that was ever ordered is deactivated, never deleted.
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int]
    unit_price_amount: Mapped[int] = mapped_column(BigInteger)

    order: Mapped[Order] = relationship(lazy="raise", back_populates="items")

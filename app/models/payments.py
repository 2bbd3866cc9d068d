"""Payments of orders through the external provider, and the provider's callbacks."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Entity
from app.models.orders import CURRENCY_CHECK


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Payment(Entity, Base):
    """The payment of one order (at most one: `order_id` is unique).

    `attempts` counts calls made to the provider. Nullable on purpose: `provider_reference`
    (NULL until the provider has answered with its charge id) and `last_error` (NULL unless
    the last attempt failed; a short code, never a provider message with customer data).
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(CURRENCY_CHECK, name="currency_iso4217"),
    )

    # CASCADE: a payment has no meaning without its order. Unique, hence indexed.
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(16), server_default=PaymentStatus.PENDING.value)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    provider_reference: Mapped[str | None] = mapped_column(
        String(64), doc="The provider's charge id; NULL until it answered."
    )
    last_error: Mapped[str | None] = mapped_column(
        String(200), doc="Why the last attempt failed; NULL if it didn't."
    )


class PaymentEvent(Entity, Base):
    """A provider callback that was processed, by the provider's event id: a redelivered
    callback finds its id here and changes nothing. No column is nullable."""

    __tablename__ = "payment_events"

    provider_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )

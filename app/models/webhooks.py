"""Outbound webhooks: the endpoints users register, the deliveries of events to them, and every
HTTP attempt of a delivery (see app/webhooks/ and docs/guides/webhooks.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Entity


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DisabledReason(StrEnum):
    FAILING = "failing"  # WEBHOOKS_DISABLE_AFTER_FAILURES deliveries in a row failed for good
    GONE = "gone"  # the receiver answered 410 Gone: "stop sending"


class DeliveryFailure(StrEnum):
    RETRIES_EXHAUSTED = "retries_exhausted"
    ENDPOINT_GONE = "endpoint_gone"
    ENDPOINT_DISABLED = "endpoint_disabled"


class WebhookEndpoint(Entity, Base):
    """A URL where a user receives signed events about their own orders.

    `secret_ciphertext` is the endpoint's signing secret encrypted with the service's key
    (Fernet); the secret itself is shown to the owner once, at creation, and stored nowhere in
    plain text. `consecutive_failures` counts the deliveries that failed for good since the last
    success; reaching WEBHOOKS_DISABLE_AFTER_FAILURES disables the endpoint.
    Nullable on purpose: `disabled_at` and `disabled_reason` (both NULL while the endpoint is
    enabled, both set while it is disabled).
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        # The owner's endpoints in creation order (keyset listing): also the foreign key's index.
        Index("ix_webhook_endpoints_owner_id_id", "owner_id", "id"),
        CheckConstraint("url ~ '^https?://'", name="url_http"),
        CheckConstraint("length(url) <= 2048", name="url_length"),
        CheckConstraint("cardinality(event_types) BETWEEN 1 AND 32", name="event_types_count"),
        CheckConstraint("consecutive_failures >= 0", name="failures_not_negative"),
        CheckConstraint(
            "(disabled_at IS NULL) = (disabled_reason IS NULL)", name="disabled_has_reason"
        ),
        CheckConstraint(
            "disabled_reason IS NULL OR disabled_reason IN ('failing', 'gone')",
            name="disabled_reason_known",
        ),
    )

    # CASCADE: endpoints (and their deliveries) are the user's configuration, nothing else
    # refers to them.
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), server_default="")
    event_types: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), doc="The event types delivered to it, e.g. `order.paid`."
    )
    secret_ciphertext: Mapped[str] = mapped_column(
        String(512), doc="The signing secret, Fernet-encrypted; never the secret itself."
    )
    consecutive_failures: Mapped[int] = mapped_column(server_default=text("0"))
    disabled_at: Mapped[datetime | None] = mapped_column(doc="NULL while enabled.")
    disabled_reason: Mapped[str | None] = mapped_column(
        String(16), doc="failing | gone; NULL while enabled."
    )

    @property
    def is_enabled(self) -> bool:
        return self.disabled_at is None


class WebhookDelivery(Entity, Base):
    """One event to be delivered to one endpoint, and where that stands.

    Unique per (endpoint, event): the fan-out may run twice for one event (the outbox delivers
    at least once) and still creates one delivery. `payload` is the message body (`type`,
    `timestamp`, `data`), kept with the delivery so every retry and redelivery sends the same
    message, even after the event has left the outbox; it is a copy per endpoint on purpose,
    a record of what was sent there. `event_id` is the outbox event's id and the `webhook-id`
    receivers deduplicate by; it is not a foreign key because outbox rows are purged.
    `attempt_count` counts the requests made (the attempts table has one row each);
    `retry_count` the retries used in the current run (a redelivery starts a new run).
    Nullable on purpose: `next_attempt_at` (NULL unless pending: when the next attempt is due),
    `dispatched_at` (NULL unless a message for the next attempt was handed to the broker, and
    when), `failure_reason` (NULL unless failed).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Idempotent fan-out; its leading column also indexes the endpoint_id foreign key.
        Index("uq_webhook_deliveries_endpoint_id_event_id", "endpoint_id", "event_id", unique=True),
        # An endpoint's deliveries, newest first (keyset listing).
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # What the dispatcher looks for every few seconds: only pending rows are in it.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # What the retention purge looks for: only finished rows are in it.
        Index(
            "ix_webhook_deliveries_finished",
            "updated_at",
            postgresql_where=text("status <> 'pending'"),
        ),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
        CheckConstraint("attempt_count >= 0", name="attempt_count_not_negative"),
        CheckConstraint("retry_count >= 0", name="retry_count_not_negative"),
        CheckConstraint(
            "(status = 'pending') = (next_attempt_at IS NOT NULL)", name="due_iff_pending"
        ),
        CheckConstraint(
            "(status = 'failed') = (failure_reason IS NOT NULL)", name="reason_iff_failed"
        ),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default=DeliveryStatus.PENDING.value)
    attempt_count: Mapped[int] = mapped_column(server_default=text("0"))
    retry_count: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        doc="When the next attempt is due; NULL unless pending."
    )
    dispatched_at: Mapped[datetime | None] = mapped_column(
        doc="When the next attempt was queued; NULL if it isn't."
    )
    failure_reason: Mapped[str | None] = mapped_column(
        String(32), doc="retries_exhausted | endpoint_gone | endpoint_disabled; NULL unless failed."
    )

    attempts: Mapped[list[WebhookDeliveryAttempt]] = relationship(
        lazy="raise", order_by="WebhookDeliveryAttempt.number", back_populates="delivery"
    )


class WebhookDeliveryAttempt(Entity, Base):
    """One HTTP request of a delivery: when, what came back, how long it took.

    Nullable on purpose, exactly one of the two: `status_code` (NULL when no response came
    back) and `error` (NULL when one did; otherwise a short, safe description such as
    `timeout`, never the receiver's response body).
    """

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (
        # One row per attempt number; its leading column indexes the delivery_id foreign key.
        Index(
            "uq_webhook_delivery_attempts_delivery_id_number",
            "delivery_id",
            "number",
            unique=True,
        ),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("status_code BETWEEN 100 AND 599", name="status_code_http"),
        CheckConstraint("duration_ms >= 0", name="duration_not_negative"),
        CheckConstraint("(status_code IS NULL) <> (error IS NULL)", name="response_xor_error"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(doc="1 for the first attempt of the delivery, and so on.")
    attempted_at: Mapped[datetime] = mapped_column(doc="When the request was started.")
    status_code: Mapped[int | None] = mapped_column(doc="The response's; NULL if none came.")
    duration_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(
        String(200), doc="Why no response came; NULL if one did."
    )

    delivery: Mapped[WebhookDelivery] = relationship(lazy="raise", back_populates="attempts")

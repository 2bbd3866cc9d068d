"""The transactional outbox (see app/core/outbox.py and docs/adr/0006-transactional-outbox.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Entity


class OutboxEvent(Entity, Base):
    """A domain event, written in the transaction that caused it and relayed to Celery after.

    `aggregate_id` names the object the event is about (an order id); it is not a foreign key
    because events of any domain share this table. `published_at` is NULL until the relay has
    handed the event to the broker; the partial index keeps finding those rows cheap however
    large the table grows. `id` is a UUIDv7, so id order is the order events were written in.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )

    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[uuid.UUID]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_at: Mapped[datetime | None] = mapped_column(
        index=True, doc="When the relay handed it to the broker; NULL until then."
    )

"""Stored responses of requests made with an `Idempotency-Key` (see app/core/idempotency.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Entity


class IdempotencyKey(Entity, Base):
    """The response to the first request made with a key, replayed for its repeats.

    A row exists only for a request that succeeded: it is written in the same transaction as
    the request's own changes, so the two commit (or vanish) together. Keys are scoped to the
    caller and the operation; `request_hash` is the SHA-256 of the canonical request body, so
    a repeat with a different body is recognised. No column is nullable.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # The caller's keys per operation; its leading column indexes the user_id foreign key.
        Index("uq_idempotency_keys_user_id_scope_key", "user_id", "scope", "key", unique=True),
        CheckConstraint("length(key) BETWEEN 1 AND 255", name="key_length"),
        CheckConstraint("response_status BETWEEN 200 AND 599", name="response_status_http"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(64), doc="The operation, e.g. `orders.place`.")
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int]
    response_body: Mapped[Any] = mapped_column(JSONB)
    response_headers: Mapped[dict[str, str]] = mapped_column(JSONB)
    expires_at: Mapped[datetime] = mapped_column(index=True)

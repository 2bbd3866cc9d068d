"""Background jobs a user asked for and polls (`GET /jobs/{id}`), e.g. an orders export."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Entity


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Entity, Base):
    """One run of background work for its owner. The result is a blob in blob storage, never
    in this table.

    Nullable on purpose: `result_key`, `result_size` (NULL until it succeeded), `error` (NULL
    unless it failed; a short, safe message), `finished_at` (NULL until it ended).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="status_known"
        ),
        CheckConstraint(
            "(status = 'succeeded') = (result_key IS NOT NULL)", name="result_iff_succeeded"
        ),
        Index("ix_jobs_owner_id_id", "owner_id", "id"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), doc="What the job does, e.g. `orders_export`.")
    status: Mapped[str] = mapped_column(String(16), server_default=JobStatus.QUEUED.value)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    result_key: Mapped[str | None] = mapped_column(String(255))
    result_size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(200))
    finished_at: Mapped[datetime | None]

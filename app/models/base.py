"""The declarative base every table derives from.

- A constraint naming convention, so Alembic autogenerate produces stable, reviewable names.
- UUIDv7 primary keys (`app.core.ids`).
- `created_at` / `updated_at`: timezone-aware, set by the database's clock on insert, and by
  the ORM on every update.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012 - read by SQLAlchemy


class Timestamped:
    """Audit timestamps, on every table (a migration test checks each table has them)."""

    created_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), doc="When the row was inserted (database clock, UTC)."
    )
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(),
        onupdate=func.now(),
        doc="When the row last changed through the application.",
    )


class Entity(Timestamped):
    """A table with its own identity: a UUIDv7 primary key and audit timestamps."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)

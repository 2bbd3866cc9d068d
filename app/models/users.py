"""Users and their roles."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Entity, Timestamped

if TYPE_CHECKING:
    from app.models.auth import Role

EMAIL_MAX = 320
FULL_NAME_MAX = 200


class User(Entity, Base):
    """A person who can sign in.

    `email` is stored lower-cased (a CHECK enforces it), so the unique constraint makes
    registration case-insensitive and race-free. `password_hash` is an argon2id (or legacy
    bcrypt) hash, never the password. No column is nullable.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("length(email) BETWEEN 3 AND 320", name="email_length"),
        CheckConstraint("length(full_name) BETWEEN 1 AND 200", name="full_name_length"),
    )

    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    full_name: Mapped[str] = mapped_column(String(FULL_NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))

    roles: Mapped[list[Role]] = relationship(
        secondary="user_roles", lazy="raise", order_by="Role.name"
    )


class UserRole(Timestamped, Base):
    """Which roles a user holds (many-to-many)."""

    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("roles.id", ondelete="RESTRICT"), primary_key=True, index=True
    )

"""Roles and permissions (RBAC), refresh-token sessions and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Entity, Timestamped


class Permission(Entity, Base):
    """One thing a principal may do, named `resource:action[:scope]` (`posts:update:any`)."""

    __tablename__ = "permissions"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(200))


class Role(Entity, Base):
    """A named set of permissions (`member`, `moderator`, `admin`), seeded by migration."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(200))

    permissions: Mapped[list[Permission]] = relationship(
        secondary="role_permissions", lazy="raise", order_by="Permission.name"
    )


class RolePermission(Timestamped, Base):
    __tablename__ = "role_permissions"

    role_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    permission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AuthSession(Entity, Base):
    """A sign-in: the family of refresh tokens that descend from one login.

    Access tokens carry the session id (`sid`), so revoking the session (logout, reuse of a
    rotated refresh token) ends its access tokens too. `revoked_at` and `revoked_reason` are
    NULL while the session is live.
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (
        CheckConstraint(
            "(revoked_at IS NULL) = (revoked_reason IS NULL)", name="revocation_has_reason"
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(doc="NULL while the session is live.")
    revoked_reason: Mapped[str | None] = mapped_column(
        String(32), doc="logout | reuse_detected | password_changed | deactivated; NULL if live."
    )


class RefreshToken(Entity, Base):
    """One refresh token of a session. Only its SHA-256 is stored; the token is random.

    `used_at` is set when the token is exchanged (rotated); presenting it again after that is
    reuse, which revokes the whole session. NULL means not yet used.
    """

    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(doc="When it was rotated; NULL if unused.")


class ApiKey(Entity, Base):
    """A long-lived credential for scripts: `rb_<prefix>_<secret>`.

    The prefix is public and indexed (for lookup); only an HMAC of the whole key is stored.
    Effective permissions are the owner's permissions intersected with the key's scopes.
    Nullable on purpose: `expires_at` (NULL: no expiry), `revoked_at` (NULL: not revoked),
    `last_used_at` (NULL: never used), `replaced_by_id` (NULL: not rotated).
    """

    __tablename__ = "api_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )

    scopes: Mapped[list[Permission]] = relationship(
        secondary="api_key_scopes", lazy="raise", order_by="Permission.name"
    )


class ApiKeyScope(Timestamped, Base):
    __tablename__ = "api_key_scopes"

    api_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    permission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True, index=True
    )

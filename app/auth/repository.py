"""Named queries of the auth domain, each with exactly the columns its caller needs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.selectable import ScalarSelect

from app.models import (
    ApiKey,
    ApiKeyScope,
    AuthSession,
    Permission,
    RefreshToken,
    Role,
    RolePermission,
    User,
    UserRole,
)


def _permission_names_of(user_id: Any) -> ScalarSelect[list[str]]:
    """Correlated subquery: every permission name the user's roles grant."""
    return (
        select(func.coalesce(func.array_agg(func.distinct(Permission.name)), []))
        .select_from(UserRole)
        .join(RolePermission, RolePermission.role_id == UserRole.role_id)
        .join(Permission, Permission.id == RolePermission.permission_id)
        .where(UserRole.user_id == user_id)
        .scalar_subquery()
    )


def _role_names_of(user_id: Any) -> ScalarSelect[list[str]]:
    return (
        select(func.coalesce(func.array_agg(Role.name), []))
        .select_from(UserRole)
        .join(Role, Role.id == UserRole.role_id)
        .where(UserRole.user_id == user_id)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class SessionPrincipalRow:
    is_active: bool
    session_live: bool
    roles: Sequence[str]
    permissions: Sequence[str]


@cache
def _session_principal_statement() -> Select[bool, bool, list[str], list[str]]:
    # Built once, with bound parameters: constructing these subqueries cost more Python time
    # than PostgreSQL takes to run them, on every authenticated request (docs/performance.md).
    now = bindparam("now", type_=AuthSession.expires_at.type)
    return (
        select(
            User.is_active,
            and_(AuthSession.revoked_at.is_(None), AuthSession.expires_at > now),
            _role_names_of(User.id),
            _permission_names_of(User.id),
        )
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            User.id == bindparam("user_id", type_=User.id.type),
            AuthSession.id == bindparam("session_id", type_=AuthSession.id.type),
        )
    )


async def session_principal(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime
) -> SessionPrincipalRow | None:
    """One round trip per authenticated request: the user, the session, roles, permissions."""
    parameters = {"user_id": user_id, "session_id": session_id, "now": now}
    row = (await session.execute(_session_principal_statement(), parameters)).one_or_none()
    if row is None:
        return None
    return SessionPrincipalRow(
        is_active=row[0], session_live=row[1], roles=row[2], permissions=row[3]
    )


@dataclass(frozen=True)
class ApiKeyPrincipalRow:
    key: ApiKey
    owner_active: bool
    roles: Sequence[str]
    owner_permissions: Sequence[str]
    scopes: Sequence[str]


async def api_key_principal(session: AsyncSession, *, prefix: str) -> ApiKeyPrincipalRow | None:
    scopes = (
        select(func.coalesce(func.array_agg(Permission.name), []))
        .select_from(ApiKeyScope)
        .join(Permission, Permission.id == ApiKeyScope.permission_id)
        .where(ApiKeyScope.api_key_id == ApiKey.id)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(
                ApiKey,
                User.is_active,
                _role_names_of(User.id),
                _permission_names_of(User.id),
                scopes,
            )
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.prefix == prefix)
        )
    ).one_or_none()
    if row is None:
        return None
    return ApiKeyPrincipalRow(
        key=row[0], owner_active=row[1], roles=row[2], owner_permissions=row[3], scopes=row[4]
    )


async def touch_api_key(
    session: AsyncSession, *, key_id: uuid.UUID, now: datetime, interval: timedelta
) -> None:
    """Records use at most once per `interval`, so a busy key isn't a write per request."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            ApiKey.last_used_at.is_(None) | (ApiKey.last_used_at < now - interval),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def user_permissions(session: AsyncSession, user_id: uuid.UUID) -> set[str]:
    return set((await session.execute(select(_permission_names_of(user_id)))).scalar_one())


async def roles_by_name(session: AsyncSession, names: Sequence[str]) -> list[Role]:
    return list((await session.execute(select(Role).where(Role.name.in_(names)))).scalars())


async def permissions_by_name(session: AsyncSession, names: Sequence[str]) -> list[Permission]:
    return list(
        (
            await session.execute(
                select(Permission).where(Permission.name.in_(names)).order_by(Permission.name)
            )
        ).scalars()
    )


async def consume_refresh_token(
    session: AsyncSession, *, token_hash: str, now: datetime
) -> uuid.UUID | None:
    """Marks an unused, unexpired token used and returns its session id, atomically.

    Two concurrent refreshes with the same token can't both succeed: the second finds
    `used_at` already set and is treated as reuse.
    """
    return (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken.session_id)
        )
    ).scalar_one_or_none()


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return (
        await session.execute(select(RefreshToken).where(RefreshToken.token_hash == token_hash))
    ).scalar_one_or_none()


async def live_session_owner(
    session: AsyncSession, *, session_id: uuid.UUID, now: datetime
) -> uuid.UUID | None:
    """The user id of a live session whose user is active, else None."""
    return (
        await session.execute(
            select(AuthSession.user_id)
            .join(User, User.id == AuthSession.user_id)
            .where(
                AuthSession.id == session_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
                User.is_active.is_(True),
            )
        )
    ).scalar_one_or_none()


async def revoke_sessions(
    session: AsyncSession,
    *,
    reason: str,
    now: datetime,
    session_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
) -> None:
    condition = AuthSession.id == session_id if session_id else AuthSession.user_id == user_id
    await session.execute(
        update(AuthSession)
        .where(condition, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


async def api_keys_of(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    return list(
        (
            await session.execute(
                select(ApiKey)
                .where(ApiKey.user_id == user_id)
                .options(selectinload(ApiKey.scopes))
                .order_by(ApiKey.id.desc())
            )
        ).scalars()
    )


async def owned_api_key(
    session: AsyncSession, *, key_id: uuid.UUID, user_id: uuid.UUID, for_update: bool = False
) -> ApiKey | None:
    query = (
        select(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id)
        .options(selectinload(ApiKey.scopes))
    )
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()

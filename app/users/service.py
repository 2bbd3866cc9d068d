"""Profiles and user administration. Credentials (passwords, sessions, keys) are app.auth's."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth
from app.core.errors import Conflict, NotFound
from app.core.pagination import CursorCodec
from app.models import User
from app.users import repository

logger = structlog.get_logger(__name__)
CURSOR_KIND = "users:id"


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user with their roles. Raises NotFound."""
    user = await repository.get_with_roles(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def update_profile(session: AsyncSession, *, user_id: uuid.UUID, full_name: str) -> User:
    user = await get_user(session, user_id)
    user.full_name = full_name
    await session.flush()
    await session.refresh(user, ["updated_at"])
    return user


async def list_users(
    session: AsyncSession, codec: CursorCodec, *, cursor: str | None, limit: int
) -> tuple[list[User], str | None]:
    """A page of users in creation order and the cursor of the next page (None at the end)."""
    after = codec.after_id(CURSOR_KIND, cursor)
    users = await repository.page_by_id(session, after=after, limit=limit)
    return codec.id_page(CURSOR_KIND, users, limit)


async def set_roles(
    session: AsyncSession, *, acting_user_id: uuid.UUID, user_id: uuid.UUID, roles: list[str]
) -> User:
    """Replaces a user's roles. An admin can't drop their own admin role (Conflict): that
    is how a service loses its last administrator."""
    user = await get_user(session, user_id)
    if user_id == acting_user_id and auth.ADMIN_ROLE not in roles:
        raise Conflict("You can't remove your own admin role.")
    await auth.set_roles(session, user=user, roles=roles)
    logger.info("user_roles_changed", user_id=str(user_id), roles=sorted(roles))
    return await get_user(session, user_id)


async def set_active(
    session: AsyncSession, *, acting_user_id: uuid.UUID, user_id: uuid.UUID, is_active: bool
) -> User:
    """Activates or deactivates. Deactivation ends every session at once; the user's API keys
    stop working because their owner is checked on every request."""
    user = await get_user(session, user_id)
    if user_id == acting_user_id and not is_active:
        raise Conflict("You can't deactivate yourself.")
    user.is_active = is_active
    if not is_active:
        await auth.revoke_all_sessions(session, user_id=user_id, reason="deactivated")
    await session.flush()
    await session.refresh(user, ["updated_at"])
    logger.info("user_activation_changed", user_id=str(user_id), is_active=is_active)
    return user

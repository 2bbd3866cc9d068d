"""Named queries of the users domain."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import User


async def get_with_roles(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return (
        await session.execute(
            select(User).where(User.id == user_id).options(selectinload(User.roles))
        )
    ).scalar_one_or_none()


async def page_by_id(session: AsyncSession, *, after: uuid.UUID | None, limit: int) -> list[User]:
    """Users in id order (UUIDv7: creation order), `limit + 1` of them to detect a next page."""
    query = select(User).options(selectinload(User.roles)).order_by(User.id).limit(limit + 1)
    if after is not None:
        query = query.where(User.id > after)
    return list((await session.execute(query)).scalars())

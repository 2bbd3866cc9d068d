"""/users: your profile, and user administration for admins.

Changing a password is a credential operation and lives in `app/auth/router.py`.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.pagination import Cursor, CursorCodecDep, Limit, Page
from app.users import service
from app.users.dependencies import UserAdmin
from app.users.schemas import ProfileUpdate, RolesUpdate, UserAdminUpdate, UserRead

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserRead, responses=problem_responses(401))
async def read_me(principal: CurrentPrincipal, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, principal.user_id))


@router.patch("/me", response_model=UserRead, responses=problem_responses(401, 422))
async def update_me(
    body: ProfileUpdate, principal: CurrentPrincipal, session: SessionDep
) -> UserRead:
    user = await service.update_profile(
        session, user_id=principal.user_id, full_name=body.full_name
    )
    return UserRead.model_validate(user)


@router.get("", response_model=Page[UserRead], responses=problem_responses(401, 403, 422))
async def list_users(
    admin: UserAdmin,
    session: SessionDep,
    codec: CursorCodecDep,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[UserRead]:
    users, next_cursor = await service.list_users(session, codec, cursor=cursor, limit=limit)
    return Page[UserRead](
        items=[UserRead.model_validate(user) for user in users], next_cursor=next_cursor
    )


@router.get("/{user_id}", response_model=UserRead, responses=problem_responses(401, 403, 404, 422))
async def read_user(user_id: uuid.UUID, admin: UserAdmin, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, user_id))


@router.put(
    "/{user_id}/roles",
    response_model=UserRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def replace_roles(
    user_id: uuid.UUID, body: RolesUpdate, admin: UserAdmin, session: SessionDep
) -> UserRead:
    user = await service.set_roles(
        session, acting_user_id=admin.user_id, user_id=user_id, roles=body.roles
    )
    return UserRead.model_validate(user)


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_user(
    user_id: uuid.UUID, body: UserAdminUpdate, admin: UserAdmin, session: SessionDep
) -> UserRead:
    user = await service.set_active(
        session, acting_user_id=admin.user_id, user_id=user_id, is_active=body.is_active
    )
    return UserRead.model_validate(user)

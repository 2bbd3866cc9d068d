"""Credentials: /auth (sign-up, sign-in, rotation, sign-out), /users/me/password, /api-keys.

`/users/me/password` lives here, not in `app/users/`, because it is a credential change: it
verifies a password and ends sessions, which only this domain does.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.dependencies import (
    AuthRateLimit,
    AuthToolsDep,
    CurrentPrincipal,
    Perm,
    Principal,
    Public,
    require,
)
from app.auth.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyRead,
    PasswordChange,
    RefreshRequest,
    RegisteredUser,
    Registration,
    TokenResponse,
)
from app.auth.service import IssuedApiKey
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.models import ApiKey

router = APIRouter(tags=["auth"])

KeyManager = Annotated[Principal, Depends(require(Perm.API_KEYS_MANAGE))]


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredUser,
    dependencies=[Public, AuthRateLimit],
    responses=problem_responses(409, 422, 429),
    summary="Create an account",
)
async def register(
    body: Registration, session: SessionDep, tools: AuthToolsDep, response: Response
) -> RegisteredUser:
    user = await service.register(
        session, tools, email=body.email, password=body.password, full_name=body.full_name
    )
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return RegisteredUser.model_validate(user)


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    dependencies=[Public, AuthRateLimit],
    responses=problem_responses(401, 422, 429),
    summary="Sign in (OAuth2 password form: username = email)",
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    tools: AuthToolsDep,
) -> TokenResponse:
    pair = await service.login(session, tools, email=form.username, password=form.password)
    return TokenResponse.model_validate(pair)


@router.post(
    "/auth/refresh",
    response_model=TokenResponse,
    dependencies=[Public, AuthRateLimit],
    responses=problem_responses(401, 422, 429),
    summary="Exchange a refresh token for a new pair (the old one stops working)",
)
async def refresh_token(
    body: RefreshRequest, session: SessionDep, tools: AuthToolsDep
) -> TokenResponse:
    pair = await service.refresh(session, tools, refresh_token=body.refresh_token)
    return TokenResponse.model_validate(pair)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401),
    summary="End this session (its refresh and access tokens stop working)",
)
async def logout(principal: CurrentPrincipal, session: SessionDep) -> None:
    await service.logout(session, principal)


@router.post(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AuthRateLimit],
    responses=problem_responses(400, 401, 422, 429),
    tags=["users"],
    summary="Change your password; every session (this one too) is signed out",
)
async def change_password(
    body: PasswordChange, principal: CurrentPrincipal, session: SessionDep, tools: AuthToolsDep
) -> None:
    await service.change_password(
        session,
        tools,
        user_id=principal.user_id,
        current_password=body.current_password,
        new_password=body.new_password,
    )


def _read(api_key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead.model_validate(
        {**_columns(api_key), "scopes": [scope.name for scope in api_key.scopes]}
    )


def _issued(issued: IssuedApiKey) -> ApiKeyIssued:
    return ApiKeyIssued(**_read(issued.api_key).model_dump(), key=issued.key)


def _columns(api_key: ApiKey) -> dict[str, object]:
    return {name: getattr(api_key, name) for name in ApiKeyRead.model_fields if name != "scopes"}


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyIssued,
    responses=problem_responses(401, 403, 422),
    tags=["api-keys"],
    summary="Create an API key (the key is shown once)",
)
async def create_api_key(
    body: ApiKeyCreate, owner: KeyManager, session: SessionDep, tools: AuthToolsDep
) -> ApiKeyIssued:
    issued = await service.create_api_key(
        session, tools, owner=owner, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    return _issued(issued)


@router.get(
    "/api-keys",
    response_model=list[ApiKeyRead],
    responses=problem_responses(401, 403),
    tags=["api-keys"],
    summary="Your API keys (never their secrets)",
)
async def list_api_keys(owner: KeyManager, session: SessionDep) -> list[ApiKeyRead]:
    return [_read(key) for key in await service.list_api_keys(session, owner)]


@router.post(
    "/api-keys/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyIssued,
    responses=problem_responses(401, 403, 404, 409, 422),
    tags=["api-keys"],
    summary="Replace a key; the old one works for the grace period",
)
async def rotate_api_key(
    key_id: uuid.UUID, owner: KeyManager, session: SessionDep, tools: AuthToolsDep
) -> ApiKeyIssued:
    return _issued(await service.rotate_api_key(session, tools, owner=owner, key_id=key_id))


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    tags=["api-keys"],
    summary="Revoke a key at once",
)
async def revoke_api_key(key_id: uuid.UUID, owner: KeyManager, session: SessionDep) -> None:
    await service.revoke_api_key(session, owner=owner, key_id=key_id)

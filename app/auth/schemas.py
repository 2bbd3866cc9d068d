"""Request and response bodies of the auth routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, EmailStr, Field, StringConstraints

from app.core.schemas import RequestBody, ResponseBody

PASSWORD_MIN = 12
PASSWORD_MAX = 128


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Passwords are not stripped (leading spaces are part of a password) and never echoed back:
# the 422 handler reports the field and the rule, not the value.
Password = Annotated[
    str,
    StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX, strip_whitespace=False),
    AfterValidator(_not_blank),
    Field(
        description=f"{PASSWORD_MIN}-{PASSWORD_MAX} characters.",
        json_schema_extra={"format": "password"},
    ),
]
FullName = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class Registration(RequestBody):
    email: EmailStr = Field(max_length=320)
    password: Password
    full_name: FullName


class RegisteredUser(ResponseBody):
    """The new account (never any password hash); `GET /users/me` shows the full profile."""

    id: uuid.UUID
    email: str
    full_name: str
    created_at: datetime


class TokenResponse(ResponseBody):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(RequestBody):
    refresh_token: str = Field(min_length=1, max_length=256)


class PasswordChange(RequestBody):
    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    new_password: Password


class ApiKeyCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(
        min_length=1, max_length=20, description="Permission names, e.g. `posts:create`."
    )
    expires_at: datetime | None = Field(
        default=None, description="When the key stops working; null for no expiry."
    )


class ApiKeyRead(ResponseBody):
    """An API key as listed: never the secret, only its public prefix."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = Field(description="Null: the key does not expire.")
    last_used_at: datetime | None = Field(description="Null: never used (updated once a minute).")
    revoked_at: datetime | None = Field(description="Null: not revoked.")
    replaced_by_id: uuid.UUID | None = Field(description="Null: not rotated.")


class ApiKeyIssued(ApiKeyRead):
    """A new key. `key` is shown this once and stored only as a keyed hash."""

    key: str = Field(description="Send as `X-API-Key`. Shown once; store it now.")

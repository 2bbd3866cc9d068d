"""Request and response bodies of the user routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictBool, StringConstraints, field_validator

from app.core.schemas import RequestBody, ResponseBody

FullName = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class UserRead(ResponseBody):
    id: uuid.UUID
    email: str
    full_name: str
    is_active: bool
    roles: list[str]
    created_at: datetime
    updated_at: datetime

    @field_validator("roles", mode="before")
    @classmethod
    def _role_names(cls, roles: list[object]) -> list[object]:
        return [getattr(role, "name", role) for role in roles]


class ProfileUpdate(RequestBody):
    full_name: FullName


class RolesUpdate(RequestBody):
    roles: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(
        max_length=10, description='The complete set of roles, e.g. `["member", "moderator"]`.'
    )


class UserAdminUpdate(RequestBody):
    is_active: StrictBool = Field(description="false deactivates: every credential stops at once.")

"""Who is making the request, and what they may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from app.auth.permissions import Perm, RoleName


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user via an access token, or a user's API key.

    `permissions` are effective permissions: for an API key, the owner's permissions
    intersected with the key's scopes.
    """

    user_id: uuid.UUID
    roles: frozenset[str]
    permissions: frozenset[str]
    via: Literal["token", "api_key"]
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def can(self, permission: Perm) -> bool:
        return permission.value in self.permissions

    @property
    def is_admin(self) -> bool:
        return RoleName.ADMIN.value in self.roles

    @property
    def rate_limit_key(self) -> str:
        """Whom a rate limit counts: the API key if one is used, else the user."""
        return f"key:{self.api_key_id}" if self.api_key_id else f"user:{self.user_id}"

"""Who may call the user routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import Perm, Principal, require

UserAdmin = Annotated[Principal, Depends(require(Perm.USERS_ADMIN))]

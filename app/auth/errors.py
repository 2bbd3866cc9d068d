"""Authentication and authorization failures, as problems."""

from __future__ import annotations

from typing import ClassVar

from app.core.errors import AppError, Conflict, Forbidden, Unauthorized


class InvalidCredentials(Unauthorized):
    title = "Invalid credentials"
    slug = "invalid-credentials"

    def __init__(self) -> None:
        # One message for "no such user", "wrong password" and "deactivated": no enumeration.
        super().__init__("The email or password is incorrect.")


class NotAuthenticated(Unauthorized):
    title = "Not authenticated"
    slug = "not-authenticated"


class RefreshTokenInvalid(Unauthorized):
    title = "Invalid refresh token"
    slug = "invalid-refresh-token"


class RefreshTokenReused(RefreshTokenInvalid):
    """A rotated refresh token came back: someone holds a copy. The session was revoked, and
    that revocation must be committed even though the request fails."""

    persist_changes: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__("This refresh token was already used; the session has been revoked.")


class PermissionDenied(Forbidden):
    title = "Permission denied"
    slug = "permission-denied"


class EmailAlreadyRegistered(Conflict):
    title = "Email already registered"
    slug = "email-taken"


class WrongCurrentPassword(AppError):
    status = 400
    title = "Wrong current password"
    slug = "wrong-current-password"


class UnknownPermission(AppError):
    status = 422
    title = "Unknown or ungranted scope"
    slug = "invalid-scope"


class ApiKeyAlreadyRotated(Conflict):
    title = "API key already rotated"
    slug = "api-key-rotated"

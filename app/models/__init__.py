"""Every ORM model, importable from one place (Alembic's env.py imports this package).

Models live together, not in their domains, so relationships across domains (an order's
customer is a user) need no import cycles.
"""

from app.models.auth import (
    ApiKey,
    ApiKeyScope,
    AuthSession,
    Permission,
    RefreshToken,
    Role,
    RolePermission,
)
from app.models.base import Base, Entity, Timestamped
from app.models.posts import Attachment, Comment, Post, PostStatus, PostTag, Tag
from app.models.users import User, UserRole

__all__ = [
    "ApiKey",
    "ApiKeyScope",
    "Attachment",
    "AuthSession",
    "Base",
    "Comment",
    "Entity",
    "Permission",
    "Post",
    "PostStatus",
    "PostTag",
    "RefreshToken",
    "Role",
    "RolePermission",
    "Tag",
    "Timestamped",
    "User",
    "UserRole",
]

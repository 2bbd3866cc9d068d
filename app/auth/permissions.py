"""Permission names. The roles that grant them are seeded by migration (0001_identity)."""

from __future__ import annotations

from enum import StrEnum


class Perm(StrEnum):
    POSTS_CREATE = "posts:create"
    POSTS_UPDATE_ANY = "posts:update:any"
    POSTS_DELETE_ANY = "posts:delete:any"
    COMMENTS_CREATE = "comments:create"
    ORDERS_CREATE = "orders:create"
    ORDERS_READ_ANY = "orders:read:any"
    PRODUCTS_WRITE = "products:write"
    USERS_ADMIN = "users:admin"
    API_KEYS_MANAGE = "api_keys:manage"
    WEBHOOKS_MANAGE = "webhooks:manage"


class RoleName(StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    ADMIN = "admin"

"""The versioned API: every domain router, mounted under /api/v1.

A breaking change gets a new version mounted next to this one (see docs/guides/rest-versioning.md);
`v1` keeps working until its announced sunset.
"""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.router import router as auth_router
from app.integrations.router import router as integrations_router
from app.orders.router import router as orders_router
from app.posts.router import router as posts_router
from app.users.router import router as users_router
from app.webhooks.router import router as webhooks_router

API_V1_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_V1_PREFIX)
# Routes are matched in the order they are included, one pattern at a time: the hottest
# domain (the public feed and post pages) goes first, which saves about 5% of a feed request's
# CPU (docs/performance.md). Paths don't overlap between routers, so the order changes nothing
# else but the order of the groups in /docs.
api_router.include_router(posts_router)
api_router.include_router(auth_router)
api_router.include_router(users_router)
api_router.include_router(orders_router)
api_router.include_router(integrations_router)
api_router.include_router(webhooks_router)

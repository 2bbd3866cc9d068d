"""The ceiling of this stack: a minimal Starlette app on a plain asyncpg pool serving the same
first page of the post feed as `GET /api/v1/posts?limit=50`, with one hand-written query.

    uvicorn tests.bench.raw_app:app   (RAW_DATABASE_URL=postgresql://...)

No ORM, no validation, no authentication, no middleware: what is left is the HTTP server, the
driver, PostgreSQL and one JSON encoding. The benchmark reports the service as a ratio of it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FEED = """
SELECT p.id, p.title, p.excerpt, p.author_id, u.full_name,
       COALESCE((SELECT array_agg(t.name ORDER BY t.name)
                 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id
                 WHERE pt.post_id = p.id), '{}') AS tags,
       p.comment_count, p.published_at
FROM posts p JOIN users u ON u.id = p.author_id
WHERE p.status = 'published'
ORDER BY p.published_at DESC, p.id DESC
LIMIT $1
"""


async def feed(request: Request) -> Response:
    limit = min(int(request.query_params.get("limit", "20")), 100)
    async with request.app.state.pool.acquire() as connection:
        rows = await connection.fetch(FEED, limit + 1)
    items = [
        {
            "id": str(row["id"]),
            "title": row["title"],
            "excerpt": row["excerpt"],
            "author": {"id": str(row["author_id"]), "full_name": row["full_name"]},
            "tags": row["tags"],
            "comment_count": row["comment_count"],
            "published_at": row["published_at"],
        }
        for row in rows[:limit]
    ]
    next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    body = orjson.dumps({"items": items, "next_cursor": next_cursor})
    return Response(body, media_type="application/json")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["RAW_DATABASE_URL"]
    size = int(os.environ.get("RAW_POOL_SIZE", "10"))
    app.state.pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
    yield
    await app.state.pool.close()


app = Starlette(routes=[Route("/posts", feed)], lifespan=lifespan)

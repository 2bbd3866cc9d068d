"""Comments: a keyset-paginated list per post, and a write that keeps the post's counter."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache
from app.core.pagination import CursorCodec
from app.models import Comment, PostStatus
from app.posts import repository
from app.posts.errors import PostNotFound, PostNotPublished
from app.posts.service.access import Viewer
from app.posts.service.posts import Listing, invalidate_post_after_commit

logger = structlog.get_logger(__name__)


async def list_comments(
    session: AsyncSession,
    codec: CursorCodec,
    *,
    post_id: uuid.UUID,
    viewer: Viewer,
    cursor: str | None,
    limit: int,
) -> Listing:
    """A page of the post's comments, oldest first: two statements (the post's visibility, the
    page with its authors) whatever the page size. Raises PostNotFound, InvalidCursor."""
    post = await repository.visibility(session, post_id)
    if post is None or not viewer.can_see(status=post.status, author_id=post.author_id):
        raise PostNotFound
    kind = f"comments:{post_id}"
    after = codec.after_id(kind, cursor)
    rows = await repository.comments_page(session, post_id, after=after, limit=limit)
    page, next_cursor = codec.id_page(kind, rows, limit)
    items = [
        {
            "id": row.id,
            "author": {"id": row.author_id, "full_name": row.author_name},
            "body": row.body,
            "created_at": row.created_at,
        }
        for row in page
    ]
    return Listing(
        page={"items": items, "next_cursor": next_cursor},
        public=post.status == PostStatus.PUBLISHED.value,
    )


async def add_comment(
    session: AsyncSession, cache: Cache, *, post_id: uuid.UUID, viewer: Viewer, body: str
) -> dict[str, Any]:
    """Comments on a published post and counts it, in one transaction.

    The counter is incremented first (`comment_count = comment_count + 1`, atomic in the
    database): that locks the post row, so concurrent comments are counted exactly and the
    post can't be unpublished or deleted halfway. If anything later fails, the request's
    rollback takes the increment back with the comment. Raises PostNotFound (also for a draft
    the viewer can't see) and PostNotPublished (the author commenting on their own draft).
    """
    if viewer.user_id is None:  # the route requires a principal; this keeps the types honest
        raise PostNotFound
    if not await repository.count_comment(session, post_id):
        post = await repository.visibility(session, post_id)
        if post is not None and viewer.can_see(status=post.status, author_id=post.author_id):
            raise PostNotPublished("Comments open once the post is published.")
        raise PostNotFound
    comment = Comment(post_id=post_id, author_id=viewer.user_id, body=body)
    session.add(comment)
    await session.flush()
    invalidate_post_after_commit(session, cache, post_id)
    logger.info("comment_added", post_id=str(post_id), comment_id=str(comment.id))
    return {
        "id": comment.id,
        "author": {
            "id": viewer.user_id,
            "full_name": await repository.author_name(session, viewer.user_id),
        },
        "body": comment.body,
        "created_at": comment.created_at,
    }

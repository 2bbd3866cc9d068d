"""Small keyword-only factories for posts, comments and bulk data, inside the test's
rolled-back transaction."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Comment, Post, PostStatus
from app.posts import repository

_sequence = itertools.count(1)
# Factory posts are published one second apart, in creation order, so orders are predictable
# (inside one test transaction `now()` would give every post the same time).
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


async def create_post(
    session: AsyncSession,
    *,
    author_id: uuid.UUID,
    title: str | None = None,
    body: str = "A body long enough to say something about keyset pagination and indexes.",
    tags: tuple[str, ...] = (),
    status: PostStatus = PostStatus.PUBLISHED,
    published_at: datetime | None = None,
) -> Post:
    number = next(_sequence)
    post = Post(
        author_id=author_id,
        title=title or f"Post number {number}",
        body=body,
        status=status.value,
        published_at=(published_at or _EPOCH + timedelta(seconds=number))
        if status is PostStatus.PUBLISHED
        else None,
    )
    post.tags = await repository.tags_named(session, sorted(set(tags)))
    session.add(post)
    await session.flush()
    await session.commit()
    return post


async def create_comment(
    session: AsyncSession, *, post_id: uuid.UUID, author_id: uuid.UUID, body: str = "Nice post."
) -> Comment:
    """A comment, counted on its post the way the service counts it."""
    assert await repository.count_comment(session, post_id), "comments need a published post"
    comment = Comment(post_id=post_id, author_id=author_id, body=body)
    session.add(comment)
    await session.flush()
    await session.commit()
    return comment


async def bulk_posts(
    session: AsyncSession,
    *,
    author_ids: list[uuid.UUID],
    count: int,
    tags: int = 0,
    tags_per_post: int = 0,
    comments_per_post: int = 0,
    draft_every: int = 0,
) -> None:
    """`count` posts spread over the authors, with tag links and counted comments, in two
    INSERT ... SELECT generate_series statements: tens of thousands of rows in a second.

    Post i is published at 2025-01-01 + i minutes (every `draft_every`-th is a draft) and is
    tagged `tag-((i + 7k) % tags)` for k < `tags_per_post`.
    """
    if tags:
        await session.execute(
            text(
                "INSERT INTO tags (id, name) SELECT gen_random_uuid(), 'tag-' || n "
                "FROM generate_series(0, :tags - 1) AS n ON CONFLICT (name) DO NOTHING"
            ),
            {"tags": tags},
        )
    await session.execute(
        text(
            """
            WITH numbered AS (
                SELECT i, gen_random_uuid() AS id,
                       (CAST(:authors AS uuid[]))[1 + i % cardinality(CAST(:authors AS uuid[]))]
                           AS author_id,
                       :draft_every > 0 AND i % :draft_every = 0 AS is_draft
                FROM generate_series(1, :count) AS i
            ), new_posts AS (
                INSERT INTO posts (id, author_id, title, body, status, published_at,
                                   comment_count)
                SELECT id, author_id,
                       'Seeded post ' || i || ' about ' || (ARRAY['indexes', 'caching',
                           'pagination', 'queues', 'pooling'])[1 + i % 5],
                       'Body of post ' || i || '. ' || repeat('Some words about databases. ', 5),
                       CASE WHEN is_draft THEN 'draft' ELSE 'published' END,
                       CASE WHEN is_draft THEN NULL
                            ELSE timestamptz '2025-01-01' + i * interval '1 minute' END,
                       CASE WHEN is_draft THEN 0 ELSE :comments END
                FROM numbered
            ), links AS (
                INSERT INTO post_tags (post_id, tag_id)
                SELECT DISTINCT n.id, t.id
                FROM numbered n
                CROSS JOIN generate_series(0, :per_post - 1) AS k
                JOIN tags t ON t.name = 'tag-' || ((n.i + k * 7) % greatest(:tags, 1))
                WHERE :tags > 0
            )
            INSERT INTO comments (id, post_id, author_id, body)
            SELECT gen_random_uuid(), n.id, n.author_id, 'Comment ' || k
            FROM numbered n CROSS JOIN generate_series(1, :comments) AS k
            WHERE NOT n.is_draft
            """
        ),
        {
            "authors": author_ids,
            "count": count,
            "draft_every": draft_every,
            "comments": comments_per_post,
            "tags": tags,
            "per_post": tags_per_post,
        },
    )
    await session.commit()

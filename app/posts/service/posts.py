"""Posts: the feed and its filters, the cached detail, and the writes that invalidate it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

import orjson
import structlog
from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core.cache import Cache
from app.core.db import on_commit
from app.core.pagination import DEFAULT_LIMIT, CursorCodec, InvalidCursor
from app.core.responses import json_bytes, match, version_etag
from app.core.storage import BlobStorage
from app.models import Post, PostStatus
from app.posts import repository
from app.posts.errors import (
    DraftsNeedSignIn,
    NotPostAuthor,
    PostNotFound,
    PreconditionFailed,
    PreconditionRequired,
    UserNotFound,
)
from app.posts.repository import PostFilter, SortKey
from app.posts.schemas import PostRead, PostSort
from app.posts.service.access import Viewer

logger = structlog.get_logger(__name__)

POST_CACHE = "post"
TAGS_CACHE = "tags"
POPULAR_TAGS_KEY = "popular"
POPULAR_TAGS_LIMIT = 100


@dataclass(frozen=True)
class PostQuery:
    """What a post list was asked for (the query string, validated)."""

    status: PostStatus = PostStatus.PUBLISHED
    author_id: uuid.UUID | None = None
    tag: str | None = None
    q: str | None = None
    sort: PostSort = PostSort.NEWEST
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class Listing:
    """A page as plain data (`{"items": [...], "next_cursor": ...}`), ready to serialize once,
    and whether it is the same for every caller (so shared caches may keep it)."""

    page: dict[str, Any]
    public: bool


@dataclass(frozen=True)
class PostDocument:
    """A post's detail as the JSON bytes the API answers with (cached as such)."""

    body: bytes
    version: int
    public: bool

    @property
    def etag(self) -> str:
        return version_etag(self.version)


# --- reading -----------------------------------------------------------------------------


async def list_posts(
    session: AsyncSession, codec: CursorCodec, *, viewer: Viewer, query: PostQuery
) -> Listing:
    """A page of posts in `query.sort` order, in one SQL statement.

    Published posts for everyone; `status=draft` lists the caller's own drafts (ordered by
    creation where the sort names `published_at`). Raises DraftsNeedSignIn (anonymous draft
    listing) and InvalidCursor (a cursor not issued for this listing and sort).
    """
    where = PostFilter(status=query.status, author_id=query.author_id, tag=query.tag, q=query.q)
    if query.status is PostStatus.DRAFT:
        if viewer.user_id is None:
            raise DraftsNeedSignIn
        if query.author_id not in (None, viewer.user_id):
            return Listing(page={"items": [], "next_cursor": None}, public=False)
        where = PostFilter(status=query.status, author_id=viewer.user_id, tag=query.tag, q=query.q)
    key = repository.sort_key(query.sort.value, query.status)
    kind = f"posts:{query.status.value}:{query.sort.value}"
    after = _decode_cursor(codec, kind, query.cursor, key) if query.cursor else None
    rows = await repository.page(session, where, query.sort.value, after=after, limit=query.limit)
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        next_cursor = codec.encode(kind, [_jsonable(last.sort_value), str(last.id)])
    # Unpacking each row as a tuple (in the column order of repository.page) costs a fraction
    # of eight attribute lookups per row, and this loop runs for every item of every page.
    items = [
        {
            "id": post_id,
            "title": title,
            "excerpt": excerpt,
            "author": {"id": author_id, "full_name": author_name},
            "tags": tags,
            "comment_count": comment_count,
            "published_at": published_at,
        }
        for (
            post_id, title, excerpt, author_id, author_name, tags, comment_count, published_at, _
        ) in rows
    ]  # fmt: skip
    return Listing(
        page={"items": items, "next_cursor": next_cursor},
        public=query.status is PostStatus.PUBLISHED,
    )


async def list_user_posts(
    session: AsyncSession, codec: CursorCodec, *, user_id: uuid.UUID, query: PostQuery
) -> Listing:
    """A user's published posts. Raises UserNotFound, InvalidCursor."""
    if not await repository.user_exists(session, user_id):
        raise UserNotFound
    return await list_posts(
        session,
        codec,
        viewer=Viewer(),
        query=PostQuery(author_id=user_id, sort=query.sort, cursor=query.cursor, limit=query.limit),
    )


async def get_post_document(
    session: AsyncSession, cache: Cache, *, post_id: uuid.UUID, viewer: Viewer
) -> PostDocument:
    """The post's detail, from the cache or (on a miss) the database. Raises PostNotFound,
    also for a draft the viewer may not see.

    The cached document is the same for every caller; visibility is checked on every read,
    after the cache, from the document's own status and author.
    """

    async def load() -> bytes | None:
        post = await repository.get_detail(session, post_id)
        return None if post is None else _detail_json(post)

    body = await cache.get_or_compute(POST_CACHE, str(post_id), load)
    if body is None:
        raise PostNotFound
    document = orjson.loads(body)
    status, author_id = document["status"], uuid.UUID(document["author"]["id"])
    if not viewer.can_see(status=status, author_id=author_id):
        raise PostNotFound
    return PostDocument(
        body=body, version=document["version"], public=status == PostStatus.PUBLISHED.value
    )


async def popular_tags(session: AsyncSession, cache: Cache) -> bytes:
    """The most used tags with their published post counts, as JSON bytes (cached: it is an
    aggregate over every tag link)."""

    async def load() -> bytes:
        rows = await repository.popular_tags(session, limit=POPULAR_TAGS_LIMIT)
        return json_bytes([{"name": row.name, "post_count": row.post_count} for row in rows])

    body = await cache.get_or_compute(TAGS_CACHE, POPULAR_TAGS_KEY, load)
    assert body is not None  # noqa: S101 - load() never returns None; narrows the type
    return body


# --- writing -----------------------------------------------------------------------------


async def get_for_write(
    session: AsyncSession,
    *,
    post_id: uuid.UUID,
    viewer: Viewer,
    action: Literal["update", "delete"],
) -> Post:
    """The post with its detail loaded, if the viewer may `action` it: its author, or a holder
    of posts:update:any / posts:delete:any. Raises PostNotFound if the viewer can't see it
    (another user's draft: 404, not 403), NotPostAuthor if they see it but may not change it.
    """
    post = await repository.get_detail(session, post_id)
    if post is None or not viewer.can_see(status=post.status, author_id=post.author_id):
        raise PostNotFound
    may_any = viewer.may_edit_any if action == "update" else viewer.may_delete_any
    if not (viewer.is_author(post.author_id) or may_any):
        raise NotPostAuthor(f"Only the post's author or a moderator may {action} it.")
    return post


async def create_post(
    session: AsyncSession,
    cache: Cache,
    *,
    author_id: uuid.UUID,
    title: str,
    body: str,
    tags: list[str],
    status: PostStatus,
) -> Post:
    """A new post with its tags (created as needed); published at once if `status` says so."""
    published = status is PostStatus.PUBLISHED
    post = Post(
        author_id=author_id,
        title=title,
        body=body,
        status=status.value,
        published_at=func.now() if published else None,
    )
    post.tags = await repository.tags_named(session, tags)
    session.add(post)
    await session.flush()
    if published:
        on_commit(session, partial(cache.invalidate, TAGS_CACHE, POPULAR_TAGS_KEY))
    logger.info("post_created", post_id=str(post.id), status=status.value)
    return await _reloaded(session, post.id)


async def update_post(
    session: AsyncSession,
    cache: Cache,
    post: Post,
    *,
    if_match: str | None,
    changes: dict[str, Any],
) -> Post:
    """Applies `changes` (title, body, tags, status) if `if_match` names the current version.

    Raises PreconditionRequired without `if_match` and PreconditionFailed if the post changed
    since the caller read it, including a change that commits between this read and this
    write (the UPDATE carries `WHERE version = <read>`). Publishing sets `published_at` to now;
    unpublishing clears it.
    """
    _require_current(if_match, post.version)
    was_published = post.status == PostStatus.PUBLISHED.value
    if "title" in changes:
        post.title = changes["title"]
    if "body" in changes:
        post.body = changes["body"]
    if "tags" in changes:
        post.tags = await repository.tags_named(session, changes["tags"])
    status = changes.get("status")
    if status is not None and status != post.status:
        post.status = status.value
        post.published_at = func.now() if status is PostStatus.PUBLISHED else None
    # Always UPDATE the row, so the version moves even when only the tag links changed.
    post.updated_at = func.now()
    try:
        await session.flush()
    except StaleDataError:
        raise PreconditionFailed(_CHANGED) from None
    is_published = post.status == PostStatus.PUBLISHED.value
    _invalidate_after_commit(session, cache, post.id, tags=was_published or is_published)
    logger.info("post_updated", post_id=str(post.id), fields=sorted(changes))
    return await _reloaded(session, post.id)


async def delete_post(
    session: AsyncSession,
    cache: Cache,
    storage: BlobStorage,
    post: Post,
    *,
    if_match: str | None,
) -> None:
    """Deletes the post; its comments, tag links and attachment rows go with it (ON DELETE
    CASCADE), and its attachment files are deleted from storage after the commit.

    `if_match` is optional here; if sent, a stale one raises PreconditionFailed.
    """
    statement = delete(Post).where(Post.id == post.id)
    if if_match is not None:
        _require_current(if_match, post.version)
        statement = statement.where(Post.version == post.version)
    keys = [attachment.storage_key for attachment in post.attachments]
    deleted = await session.execute(
        statement.returning(Post.id).execution_options(synchronize_session=False)
    )
    if deleted.first() is None:  # deleted, or (with If-Match) changed, since it was read
        raise PostNotFound if if_match is None else PreconditionFailed(_CHANGED)
    session.expunge(post)
    _invalidate_after_commit(
        session, cache, post.id, tags=post.status == PostStatus.PUBLISHED.value
    )
    for key in keys:
        on_commit(session, partial(storage.delete, key))
    logger.info("post_deleted", post_id=str(post.id), attachments=len(keys))


# --- helpers -------------------------------------------------------------------------------

_CHANGED = (
    "The post changed since you read it: GET it again, reapply your change and retry with "
    "its new ETag."
)


def _require_current(if_match: str | None, version: int) -> None:
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the post's ETag (from GET) so a concurrent change isn't lost."
        )
    if not match(if_match, version_etag(version)):
        raise PreconditionFailed(_CHANGED)


def invalidate_post_after_commit(session: AsyncSession, cache: Cache, post_id: uuid.UUID) -> None:
    """Evicts the post's cached detail once (and only if) the transaction commits."""
    on_commit(session, partial(cache.invalidate, POST_CACHE, str(post_id)))


def _invalidate_after_commit(
    session: AsyncSession, cache: Cache, post_id: uuid.UUID, *, tags: bool
) -> None:
    invalidate_post_after_commit(session, cache, post_id)
    if tags:
        on_commit(session, partial(cache.invalidate, TAGS_CACHE, POPULAR_TAGS_KEY))


async def _reloaded(session: AsyncSession, post_id: uuid.UUID) -> Post:
    post = await repository.get_detail(session, post_id)
    if post is None:
        raise PostNotFound
    return post


def _detail_json(post: Post) -> bytes:
    return PostRead.model_validate(post).model_dump_json().encode()


def _decode_cursor(
    codec: CursorCodec, kind: str, cursor: str, key: SortKey
) -> tuple[Any, uuid.UUID]:
    values = codec.decode(kind, cursor)
    try:
        value, last_id = values
        return repository.parse_sort_value(key, value), uuid.UUID(last_id)
    except (TypeError, ValueError) as error:
        raise InvalidCursor("The cursor is malformed.") from error


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value

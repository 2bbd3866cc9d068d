"""Named queries of the posts domain.

List queries select the columns a list item shows, joined and aggregated in one statement
(the author's name by a join, the tag names by an `array_agg` subquery, the comment count from
its counter column), so a page costs one query whatever its length. Detail queries load the
relationships they return explicitly; every relationship is `lazy="raise"`, so a forgotten one
fails in tests instead of issuing a query per row in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.types import NullType

from app.core.ids import new_id
from app.models import Attachment, Comment, Post, PostStatus, PostTag, Tag, User
from app.models.posts import SEARCH_CONFIG

# Rows and statements of any shape (SQLAlchemy 2.1 types them by their columns).
AnyRow = Row[*tuple[Any, ...]]
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class SortKey:
    """One keyset order: ORDER BY `column` (then id) in one direction."""

    column: Any
    descending: bool

    def order_by(self) -> list[Any]:
        if self.descending:
            return [self.column.desc(), Post.id.desc()]
        return [self.column.asc(), Post.id.asc()]

    def after_position(self) -> ColumnElement[bool]:
        """Rows after the position (`:after_value`, `:after_id`) in this order: one row
        comparison, which PostgreSQL answers with an index range scan on (column, id)."""
        row = tuple_(self.column, Post.id)
        position = tuple_(
            bindparam("after_value", type_=self.column.type),
            bindparam("after_id", type_=Post.id.type),
        )
        return row < position if self.descending else row > position


SORT_COLUMNS: dict[str, Any] = {"published_at": Post.published_at, "title": Post.title}


def sort_key(sort: str, status: PostStatus) -> SortKey:
    """`-published_at`, `published_at`, `title` or `-title` as a keyset order. Drafts have no
    `published_at`: their newest/oldest order is their creation."""
    column = SORT_COLUMNS[sort.removeprefix("-")]
    if status is PostStatus.DRAFT and column is Post.published_at:
        column = Post.created_at
    return SortKey(column=column, descending=sort.startswith("-"))


def parse_sort_value(key: SortKey, value: Any) -> Any:
    """A cursor's sort value back to the column's type."""
    if key.column is Post.published_at or key.column is Post.created_at:
        return datetime.fromisoformat(value)
    return str(value)


@dataclass(frozen=True)
class PostFilter:
    status: PostStatus
    author_id: uuid.UUID | None = None
    tag: str | None = None
    q: str | None = None


def _tag_names() -> Any:
    """The post's tag names as a sorted array ('{}' without tags), aggregated in the query.

    Typed as a plain column on the way out: asyncpg already decodes a text[] into a list,
    and SQLAlchemy's ARRAY type would copy every list again (2% of a feed request)."""
    names = func.coalesce(
        func.array_agg(Tag.name).aggregate_order_by(Tag.name), literal([], ARRAY(String))
    )
    return (
        select(type_coerce(names, NullType()))
        .join(PostTag, PostTag.tag_id == Tag.id)
        .where(PostTag.post_id == Post.id)
        .scalar_subquery()
    )


@lru_cache(maxsize=128)
def _list_statement(
    status: PostStatus, sort: str, *, author: bool, tag: bool, text: bool, paged: bool
) -> AnySelect:
    """The list query of one shape (status, order, which filters), with bound parameters.

    Built once per shape and reused: constructing a statement this size costs more Python
    time than PostgreSQL takes to run it, and the list is the hottest path of the service.
    """
    key = sort_key(sort, status)
    query = (
        select(
            Post.id,
            Post.title,
            Post.excerpt,
            Post.author_id,
            User.full_name.label("author_name"),
            _tag_names().label("tags"),
            Post.comment_count,
            Post.published_at,
            key.column.label("sort_value"),
        )
        .join(User, User.id == Post.author_id)
        .where(Post.status == status.value)
        .order_by(*key.order_by())
        .limit(bindparam("limit", type_=Integer))
    )
    if author:
        query = query.where(Post.author_id == bindparam("author_id", type_=Post.author_id.type))
    if tag:
        tag_id = select(Tag.id).where(Tag.name == bindparam("tag", type_=String)).scalar_subquery()
        query = query.where(exists().where(PostTag.post_id == Post.id, PostTag.tag_id == tag_id))
    if text:
        config: ColumnElement[Any] = literal_column(f"'{SEARCH_CONFIG}'::regconfig")
        tsquery = func.websearch_to_tsquery(config, bindparam("q", type_=String))
        query = query.where(Post.search.op("@@")(tsquery))
    if paged:
        query = query.where(key.after_position())
    return query


def _prepared_list(
    where: PostFilter, sort: str, *, after: tuple[Any, uuid.UUID] | None, limit: int
) -> tuple[AnySelect, dict[str, Any]]:
    statement = _list_statement(
        where.status,
        sort,
        author=where.author_id is not None,
        tag=where.tag is not None,
        text=where.q is not None,
        paged=after is not None,
    )
    # `limit + 1` rows tell whether there is a next page.
    parameters: dict[str, Any] = {"limit": limit + 1}
    if where.author_id is not None:
        parameters["author_id"] = where.author_id
    if where.tag is not None:
        parameters["tag"] = where.tag
    if where.q is not None:
        parameters["q"] = where.q
    if after is not None:
        parameters["after_value"], parameters["after_id"] = after
    return statement, parameters


def list_query(
    where: PostFilter, sort: str, *, after: tuple[Any, uuid.UUID] | None, limit: int
) -> AnySelect:
    """One page of list items in `sort` order, parameters bound (for EXPLAIN and tests)."""
    statement, parameters = _prepared_list(where, sort, after=after, limit=limit)
    return statement.params(parameters)


async def page(
    session: AsyncSession,
    where: PostFilter,
    sort: str,
    *,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> Sequence[AnyRow]:
    """One page of list items, `limit + 1` rows of them: one statement, whatever the page.
    Columns: id, title, excerpt, author_id, author_name, tags, comment_count, published_at,
    sort_value (the service unpacks them in this order).

    Run on the session's connection (same transaction): the rows are plain columns, so the
    ORM's result machinery would only add time on the hottest path.
    """
    statement, parameters = _prepared_list(where, sort, after=after, limit=limit)
    connection = await session.connection()
    return (await connection.execute(statement, parameters)).all()


async def referenced_storage_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Those of `keys` that an attachment row points at."""
    rows = await session.scalars(
        select(Attachment.storage_key).where(Attachment.storage_key.in_(keys))
    )
    return set(rows)


async def get_detail(session: AsyncSession, post_id: uuid.UUID) -> Post | None:
    """The post with everything its detail shows: author (joined), tags and attachments
    (one SELECT ... IN each). Refreshes an instance already in the session."""
    return (
        await session.execute(
            select(Post)
            .where(Post.id == post_id)
            .options(
                joinedload(Post.author).load_only(User.id, User.full_name),
                selectinload(Post.tags),
                selectinload(Post.attachments),
            )
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def visibility(session: AsyncSession, post_id: uuid.UUID) -> AnyRow | None:
    """(status, author_id) of a post, for access checks that need nothing else."""
    return (
        await session.execute(select(Post.status, Post.author_id).where(Post.id == post_id))
    ).one_or_none()


async def user_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(exists().where(User.id == user_id))))


async def tags_named(session: AsyncSession, names: list[str]) -> list[Tag]:
    """The tags with these names, creating the missing ones. Race-free: concurrent posts
    naming the same new tag both succeed (`ON CONFLICT DO NOTHING`) and share one row."""
    if not names:
        return []
    await session.execute(
        insert(Tag)
        .values([{"id": new_id(), "name": name} for name in names])
        .on_conflict_do_nothing(index_elements=[Tag.name])
    )
    return list((await session.scalars(select(Tag).where(Tag.name.in_(names)))).all())


async def count_comment(session: AsyncSession, post_id: uuid.UUID) -> bool:
    """Adds one to a *published* post's comment counter (and its version: the representation
    changed). The row lock it takes orders concurrent comments; False if the post is not
    published (or gone)."""
    updated = await session.execute(
        update(Post)
        .where(Post.id == post_id, Post.status == PostStatus.PUBLISHED.value)
        .values(comment_count=Post.comment_count + 1, version=Post.version + 1)
        .returning(Post.id)
        .execution_options(synchronize_session=False)
    )
    return updated.first() is not None


async def bump_version(session: AsyncSession, post_id: uuid.UUID) -> None:
    """Moves the post's version: something its representation shows (an attachment) changed."""
    await session.execute(
        update(Post)
        .where(Post.id == post_id)
        .values(version=Post.version + 1)
        .execution_options(synchronize_session=False)
    )


async def author_name(session: AsyncSession, user_id: uuid.UUID) -> str:
    return (await session.execute(select(User.full_name).where(User.id == user_id))).scalar_one()


def comments_query(post_id: uuid.UUID, *, after: uuid.UUID | None, limit: int) -> AnySelect:
    """A post's comments, oldest first (UUIDv7 ids are in creation order), with their
    authors' names: one index range scan on (post_id, id) and a join."""
    query = (
        select(
            Comment.id,
            Comment.body,
            Comment.created_at,
            User.id.label("author_id"),
            User.full_name.label("author_name"),
        )
        .join(User, User.id == Comment.author_id)
        .where(Comment.post_id == post_id)
        .order_by(Comment.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(Comment.id > after)
    return query


async def comments_page(
    session: AsyncSession, post_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> Sequence[AnyRow]:
    return (await session.execute(comments_query(post_id, after=after, limit=limit))).all()


def popular_tags_query(limit: int) -> AnySelect:
    """Tags by number of published posts, most used first: an aggregate over every tag link,
    which is why its result is cached."""
    post_count = func.count().label("post_count")
    return (
        select(Tag.name, post_count)
        .join(PostTag, PostTag.tag_id == Tag.id)
        .join(Post, and_(Post.id == PostTag.post_id, Post.status == PostStatus.PUBLISHED.value))
        .group_by(Tag.name)
        .order_by(post_count.desc(), Tag.name)
        .limit(limit)
    )


async def popular_tags(session: AsyncSession, *, limit: int) -> Sequence[AnyRow]:
    return (await session.execute(popular_tags_query(limit))).all()


async def attachment_with_visibility(
    session: AsyncSession, attachment_id: uuid.UUID
) -> AnyRow | None:
    """(Attachment, post status, post author) in one query."""
    return (
        await session.execute(
            select(Attachment, Post.status, Post.author_id)
            .join(Post, Post.id == Attachment.post_id)
            .where(Attachment.id == attachment_id)
        )
    ).one_or_none()


def export_query(author_id: uuid.UUID) -> AnySelect:
    """Every post of an author, oldest first, with what an export carries."""
    return (
        select(
            Post.id,
            Post.title,
            Post.status,
            Post.published_at,
            Post.created_at,
            Post.updated_at,
            _tag_names().label("tags"),
            Post.body,
        )
        .where(Post.author_id == author_id)
        .order_by(Post.id)
    )

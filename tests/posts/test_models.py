"""The schema itself: the database refuses invalid rows, relationships delete as designed and
never load lazily, every table has timestamps, every foreign key an index, every nullable
column a reason."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Uuid, delete, exc, func, insert, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapper

from app.core.db import create_sessionmaker
from app.core.ids import new_id
from app.models import Attachment, Base, Comment, Post, PostTag, Tag, User
from tests.factories import create_account
from tests.posts.factories import create_comment, create_post

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHA = "a" * 64


def _post(author_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    row = {
        "id": new_id(),
        "author_id": author_id,
        "title": "A valid title",
        "body": "A valid body.",
        "status": "published",
        "published_at": NOW,
    }
    return row | changes


def _attachment(post_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    row = {
        "id": new_id(),
        "post_id": post_id,
        "storage_key": f"attachments/{uuid.uuid4().hex}",
        "filename": "notes.txt",
        "content_type": "text/plain",
        "size": 10,
        "sha256": SHA,
    }
    return row | changes


@pytest.fixture
async def existing(session: AsyncSession, app: FastAPI) -> dict[str, uuid.UUID]:
    account = await create_account(session, app)
    post = await create_post(session, author_id=account.user.id, tags=("sql",))
    return {"user": account.user.id, "post": post.id}


# Each case: a direct INSERT, bypassing the API and the ORM, that the database must refuse.
INVALID_ROWS: dict[str, Callable[[dict[str, uuid.UUID]], tuple[Any, dict[str, Any]]]] = {
    "blank title": lambda ids: (Post, _post(ids["user"], title=" \n\t ")),
    "empty body": lambda ids: (Post, _post(ids["user"], body="")),
    "body over 100 000 characters": lambda ids: (Post, _post(ids["user"], body="b" * 100_001)),
    "unknown status": lambda ids: (Post, _post(ids["user"], status="archived")),
    "published without published_at": lambda ids: (Post, _post(ids["user"], published_at=None)),
    "draft with published_at": lambda ids: (Post, _post(ids["user"], status="draft")),
    "negative comment count": lambda ids: (Post, _post(ids["user"], comment_count=-1)),
    "version 0": lambda ids: (Post, _post(ids["user"], version=0)),
    "unknown author": lambda ids: (Post, _post(uuid.uuid4())),
    "missing author": lambda ids: (Post, _post(ids["user"]) | {"author_id": None}),
    "upper-case tag": lambda ids: (Tag, {"id": new_id(), "name": "SQL"}),
    "tag with a space": lambda ids: (Tag, {"id": new_id(), "name": "two words"}),
    "duplicate tag": lambda ids: (Tag, {"id": new_id(), "name": "sql"}),
    "post tagged twice": lambda ids: (PostTag, {"post_id": ids["post"], "tag_id": None}),
    "blank comment": lambda ids: (
        Comment,
        {"id": new_id(), "post_id": ids["post"], "author_id": ids["user"], "body": "  "},
    ),
    "comment on no post": lambda ids: (
        Comment,
        {"id": new_id(), "post_id": uuid.uuid4(), "author_id": ids["user"], "body": "hi"},
    ),
    "empty attachment": lambda ids: (Attachment, _attachment(ids["post"], size=0)),
    "malformed sha256": lambda ids: (Attachment, _attachment(ids["post"], sha256="xyz")),
    "malformed content type": lambda ids: (
        Attachment,
        _attachment(ids["post"], content_type="exe"),
    ),
    "blank filename": lambda ids: (Attachment, _attachment(ids["post"], filename="")),
}


@pytest.mark.checklist("model.validation", "db.constraints", "anti.sec.no-input-validation")
@pytest.mark.parametrize("case", sorted(INVALID_ROWS))
async def test_the_database_refuses_what_the_api_would(
    session: AsyncSession, existing: dict[str, uuid.UUID], case: str
) -> None:
    model, row = INVALID_ROWS[case](existing)
    if model is PostTag:  # the tag the post already has
        row["tag_id"] = await session.scalar(select(Tag.id).where(Tag.name == "sql"))
    with pytest.raises(exc.IntegrityError):
        async with session.begin_nested():
            await session.execute(insert(model).values(**row))


@pytest.mark.checklist("model.validation")
async def test_the_valid_versions_of_those_rows_are_accepted(
    session: AsyncSession, existing: dict[str, uuid.UUID]
) -> None:
    """The control group: the rows above differ from these in exactly the field named."""
    async with session.begin_nested():
        await session.execute(insert(Post).values(**_post(existing["user"])))
        await session.execute(insert(Attachment).values(**_attachment(existing["post"])))
        await session.execute(insert(Tag).values(id=new_id(), name="query-plans"))


@pytest.mark.checklist("model.relationships", "db.constraints")
async def test_deleting_a_post_takes_its_comments_attachments_and_links_but_not_its_tags(
    session: AsyncSession, existing: dict[str, uuid.UUID]
) -> None:
    post_id = existing["post"]
    await create_comment(session, post_id=post_id, author_id=existing["user"])
    await session.execute(insert(Attachment).values(**_attachment(post_id)))
    await session.execute(delete(Post).where(Post.id == post_id))
    for model in (Comment, Attachment, PostTag):
        assert await session.scalar(select(func.count()).select_from(model)) == 0, model
    assert await session.scalar(select(func.count()).select_from(Tag)) == 1


@pytest.mark.checklist("model.relationships", "db.constraints")
async def test_deleting_a_tag_untags_posts_and_keeps_them(
    session: AsyncSession, existing: dict[str, uuid.UUID]
) -> None:
    await session.execute(delete(Tag).where(Tag.name == "sql"))
    assert await session.scalar(select(func.count()).select_from(PostTag)) == 0
    assert await session.scalar(select(func.count()).select_from(Post)) == 1


@pytest.mark.checklist("model.relationships", "db.constraints")
async def test_a_user_with_posts_or_comments_cannot_be_deleted_by_accident(
    session: AsyncSession, app: FastAPI, existing: dict[str, uuid.UUID]
) -> None:
    with pytest.raises(exc.IntegrityError, match="fk_posts_author_id_users"):
        async with session.begin_nested():
            await session.execute(delete(User).where(User.id == existing["user"]))
    commenter = await create_account(session, app)
    await create_comment(session, post_id=existing["post"], author_id=commenter.user.id)
    with pytest.raises(exc.IntegrityError, match="fk_comments_author_id_users"):
        async with session.begin_nested():
            await session.execute(delete(User).where(User.id == commenter.user.id))


def _mappers() -> list[Mapper[Any]]:
    return [mapper for mapper in Base.registry.mappers if mapper.local_table is not None]


@pytest.mark.checklist("model.relationships", "db.no-n-plus-one", "anti.db.n-plus-one")
async def test_every_relationship_refuses_to_load_lazily(
    session: AsyncSession, existing: dict[str, uuid.UUID]
) -> None:
    lazy = [
        f"{mapper.class_.__name__}.{name}"
        for mapper in _mappers()
        for name, relationship in mapper.relationships.items()
        if relationship.lazy != "raise"
    ]
    assert lazy == [], "relationships must be lazy='raise': load them explicitly"
    post = await session.scalar(
        select(Post).where(Post.id == existing["post"]).execution_options(populate_existing=True)
    )
    assert post is not None
    with pytest.raises(exc.InvalidRequestError, match="lazy='raise'"):
        _ = post.tags
    with pytest.raises(exc.InvalidRequestError):
        _ = post.search  # a WHERE-only column: deferred, and raises if loaded by accident


async def _columns(session: AsyncSession) -> list[Any]:
    return list(
        await session.execute(
            text(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name <> 'alembic_version'"
            )
        )
    )


@pytest.mark.checklist("model.timestamps")
async def test_every_table_has_audit_timestamps_set_by_the_database(
    session: AsyncSession,
) -> None:
    columns = await _columns(session)
    tables = {column.table_name for column in columns}
    stamped = {
        column.table_name
        for column in columns
        if column.column_name in {"created_at", "updated_at"}
        and column.data_type == "timestamp with time zone"
        and column.is_nullable == "NO"
        and column.column_default == "now()"
    }
    assert {"posts", "tags", "post_tags", "comments", "attachments", "users"} <= tables
    assert tables == stamped


@pytest.mark.checklist("model.timestamps")
async def test_updated_at_moves_on_every_change_and_created_at_never(
    committing_app: FastAPI, engine: AsyncEngine
) -> None:
    """With real commits: inside one test transaction `now()` would never move."""
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        user = User(email="stamps@example.com", full_name="Stamps", password_hash="-")
        session.add(user)
        await session.flush()
        post = Post(author_id=user.id, title="First", body="Body", status="draft")
        session.add(post)
        await session.flush()
        await session.refresh(post, ["created_at", "updated_at"])
        await session.commit()
    async with sessionmaker() as session:
        changed = await session.get_one(Post, post.id)
        changed.title = "Second"
        await session.flush()
        await session.refresh(changed, ["created_at", "updated_at"])
        await session.commit()
    assert changed.created_at == post.created_at
    assert changed.updated_at > post.updated_at


@pytest.mark.checklist("model.types")
async def test_columns_have_the_types_their_values_need(session: AsyncSession) -> None:
    columns = {(c.table_name, c.column_name): c.data_type for c in await _columns(session)}
    assert "timestamp without time zone" not in columns.values()  # every instant is absolute
    assert not {"real", "double precision", "money"} & set(columns.values())
    posts_family = {"posts", "tags", "post_tags", "comments", "attachments"}
    keys = {
        key: kind
        for key, kind in columns.items()
        if key[0] in posts_family and (key[1] == "id" or key[1].endswith("_id"))
    }
    assert set(keys.values()) == {"uuid"}  # primary and foreign keys alike
    assert columns["attachments", "size"] == "bigint"  # files past 2 GiB
    assert columns["posts", "search"] == "tsvector"
    assert columns["posts", "comment_count"] == "integer"
    assert columns["posts", "body"] == "text"
    assert columns["posts", "title"] == "character varying"


@pytest.mark.checklist("db.indexes", "anti.db.fk-without-index", "db.constraints")
async def test_every_foreign_key_leads_an_index(session: AsyncSession) -> None:
    """Without one, deleting a parent scans the whole child table (and locks a lot)."""
    unindexed = (
        await session.execute(
            text(
                """
                SELECT c.conrelid::regclass::text AS child, c.conname
                FROM pg_constraint c
                WHERE c.contype = 'f' AND NOT EXISTS (
                    SELECT 1 FROM pg_index i
                    WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
                      AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey
                )
                """
            )
        )
    ).all()
    assert unindexed == []
    foreign_keys = await session.scalar(
        text("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
    )
    assert foreign_keys is not None
    assert foreign_keys >= 10


@pytest.mark.checklist("model.nullable-documented")
def test_every_nullable_column_is_documented_on_its_model() -> None:
    undocumented = [
        f"{mapper.class_.__name__}.{column.name}"
        for mapper in _mappers()
        for column in mapper.local_table.columns
        if column.nullable and column.name not in (mapper.class_.__doc__ or "")
    ]
    assert undocumented == []
    nullable = [c.name for c in inspect(Post).local_table.columns if c.nullable]
    assert nullable == ["published_at"]


@pytest.mark.checklist("model.nullable-documented")
async def test_every_nullable_field_of_the_api_says_when_it_is_null(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    silent = [
        f"{name}.{field}"
        for name in _response_schemas(spec)
        for field, property_ in schemas[name].get("properties", {}).items()
        if {"type": "null"} in property_.get("anyOf", []) and not property_.get("description")
    ]
    assert silent == []
    published_at = schemas["PostListItem"]["properties"]["published_at"]
    assert "null for a draft" in published_at["description"]


def _response_schemas(spec: dict[str, Any]) -> set[str]:
    """Names of the component schemas any response refers to, directly or nested."""
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/components/schemas/"):
                name = reference.rsplit("/", 1)[-1]
                if name not in found:
                    found.add(name)
                    visit(spec["components"]["schemas"][name])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for path in spec["paths"].values():
        for operation in path.values():
            visit(operation.get("responses", {}))
    return found


@pytest.mark.checklist("model.entities", "model.types")
def test_entities_have_uuid_keys_and_association_tables_composite_ones() -> None:
    keys = {
        mapper.local_table.name: [column.name for column in mapper.local_table.primary_key]
        for mapper in _mappers()
    }
    assert keys["posts"] == keys["tags"] == keys["comments"] == keys["attachments"] == ["id"]
    assert keys["post_tags"] == ["post_id", "tag_id"]
    assert isinstance(inspect(Post).columns["id"].type, Uuid)


@pytest.mark.checklist("db.normalized")
async def test_a_tag_is_stored_once_and_shared_by_its_posts(
    client: httpx.AsyncClient, session: AsyncSession, existing: dict[str, uuid.UUID]
) -> None:
    for _ in range(3):
        await create_post(session, author_id=existing["user"], tags=("sql", "caching"))
    assert await session.scalar(select(func.count()).select_from(Tag)) == 2
    assert await session.scalar(select(func.count()).select_from(PostTag)) == 7
    # One fact, one place: renaming the tag renames it on every post.
    await session.execute(update(Tag).where(Tag.name == "sql").values(name="postgres"))
    await session.commit()
    items = (await client.get("/api/v1/posts", params={"tag": "postgres"})).json()["items"]
    assert len(items) == 4
    assert all("postgres" in item["tags"] for item in items)


@pytest.mark.checklist("db.normalized", "db.transactions")
async def test_derived_columns_follow_their_source(
    session: AsyncSession, existing: dict[str, uuid.UUID]
) -> None:
    """The only redundancy is derived and kept by the database or in the same transaction:
    the excerpt and the search document regenerate with the body."""
    await session.execute(
        update(Post).where(Post.id == existing["post"]).values(body="Vacuum   and\nanalyze.")
    )
    excerpt, found = (
        await session.execute(
            select(
                Post.excerpt,
                Post.search.op("@@")(func.to_tsquery("english", "analyze")),
            ).where(Post.id == existing["post"])
        )
    ).one()
    assert (excerpt, found) == ("Vacuum and analyze.", True)

"""The query plans of the posts listings: EXPLAIN of the exact statements the repository builds.

Used by `test_queries.py` (which asserts the plans use their indexes) and to write
docs/guides/indexing-query-plans.md:

    createdb -h 127.0.0.1 -U postgres plans_scratch
    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/plans_scratch \\
        uv run alembic upgrade head
    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/plans_scratch \\
        uv run python -m tests.posts.query_plans

It seeds 20 000 posts (once), then prints `EXPLAIN (ANALYZE, BUFFERS)` of every listing, and
of some again without what makes them fast (an index dropped, the statistics target reset)
inside a transaction that is rolled back, so nothing changes for good.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ClauseElement, Executable, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from app.models import PostStatus
from app.posts import repository
from app.posts.repository import AnySelect, PostFilter

SEED_POSTS = 20_000
SEED_AUTHORS = 50
SEED_TAGS = 30
# A word only one seeded post contains: the selective search the GIN index is for.
RARE_WORD = "zeppelin"


class Explain(Executable, ClauseElement):
    """`EXPLAIN (...) <statement>` with the statement's bound parameters, as executed."""

    inherit_cache = False

    def __init__(self, statement: AnySelect, *, analyze: bool = False, fmt: str = "JSON") -> None:
        self.statement = statement
        self.analyze = analyze
        self.fmt = fmt


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    options = "ANALYZE, BUFFERS, " if element.analyze else ""
    return f"EXPLAIN ({options}FORMAT {element.fmt}) {compiler.process(element.statement, **kw)}"


@dataclass(frozen=True)
class Scan:
    node: str
    relation: str | None
    index: str | None


def scans(plan: dict[str, Any]) -> list[Scan]:
    """Every node of a JSON plan that reads a table or an index."""
    return [
        Scan(node["Node Type"], node.get("Relation Name"), node.get("Index Name"))
        for node in nodes(plan["Plan"])
        if "Scan" in node["Node Type"]
    ]


async def explain(
    session: AsyncSession | AsyncConnection, statement: AnySelect, *, analyze: bool = False
) -> dict[str, Any]:
    """The JSON plan of `statement` (with `analyze`: run it, with actual row counts)."""
    plan: dict[str, Any] = (
        await session.execute(Explain(statement, analyze=analyze))
    ).scalar_one()[0]
    return plan


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A plan node and all the nodes under it."""
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def listings(author_id: uuid.UUID, after: tuple[Any, uuid.UUID]) -> dict[str, AnySelect]:
    """The statements behind each way of listing posts, as the service builds them."""
    published = PostStatus.PUBLISHED
    newest = "-published_at"
    return {
        "feed": repository.list_query(PostFilter(published), newest, after=None, limit=20),
        "feed, next page": repository.list_query(
            PostFilter(published), newest, after=after, limit=20
        ),
        "by title": repository.list_query(PostFilter(published), "title", after=None, limit=20),
        "author filter": repository.list_query(
            PostFilter(published, author_id=author_id), newest, after=None, limit=20
        ),
        "tag filter": repository.list_query(
            PostFilter(published, tag="tag-7"), newest, after=None, limit=20
        ),
        "full-text search": repository.list_query(
            PostFilter(published, q=RARE_WORD), newest, after=None, limit=20
        ),
    }


SEED_SQL = """
INSERT INTO users (id, email, full_name, password_hash)
SELECT gen_random_uuid(), 'author' || n || '@plans.example', 'Author ' || n, 'not-a-hash'
FROM generate_series(1, :authors) AS n;

INSERT INTO tags (id, name)
SELECT gen_random_uuid(), 'tag-' || n FROM generate_series(0, :tags - 1) AS n;

INSERT INTO posts (id, author_id, title, body, status, published_at)
SELECT gen_random_uuid(), authors.ids[1 + i % :authors],
       'Post ' || i || ' about ' || (ARRAY['indexes', 'caching', 'pagination'])[1 + i % 3],
       CASE WHEN i = 4242 THEN 'A ' || :rare || ' over the database. ' ELSE '' END
           || repeat('Words about databases and queries. ', 8),
       CASE WHEN i % 10 = 0 THEN 'draft' ELSE 'published' END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE timestamptz '2025-01-01' + i * interval '1 minute' END
FROM generate_series(1, :posts) AS i,
     (SELECT array_agg(id) AS ids FROM users WHERE email LIKE '%@plans.example') AS authors;

INSERT INTO post_tags (post_id, tag_id)
SELECT p.id, t.id
FROM (SELECT id, row_number() OVER (ORDER BY id) AS i FROM posts) AS p
CROSS JOIN generate_series(0, 1) AS k
JOIN tags t ON t.name = 'tag-' || ((p.i + k * 7) % :tags);

ANALYZE users, tags, posts, post_tags
"""


async def seed(connection: AsyncSession | AsyncConnection) -> None:
    """20 000 posts by 50 authors, 2 of 30 tags each, every 10th a draft; then ANALYZE, so the
    planner knows the table sizes (a fresh table looks empty to it)."""
    values = {"authors": SEED_AUTHORS, "tags": SEED_TAGS, "posts": SEED_POSTS, "rare": RARE_WORD}
    for statement in SEED_SQL.split(";"):
        names = [name for name in values if f":{name}" in statement]
        await connection.execute(text(statement), {name: values[name] for name in names})


async def sample_position(
    connection: AsyncSession | AsyncConnection,
) -> tuple[uuid.UUID, tuple[Any, uuid.UUID]]:
    """An author, and the keyset position halfway down the feed."""
    author_id = (await connection.execute(text("SELECT author_id FROM posts LIMIT 1"))).scalar_one()
    row = (
        await connection.execute(
            text(
                "SELECT published_at, id FROM posts WHERE status = 'published' "
                "ORDER BY published_at DESC, id DESC OFFSET 9000 LIMIT 1"
            )
        )
    ).one()
    return author_id, (row.published_at, row.id)


# A listing's plan again after one change (rolled back afterwards): mostly "before", without
# what makes it fast; the last one is what autovacuum does some time after a bulk load.
VARIANTS = {
    "feed without its index": ("feed", "DROP INDEX ix_posts_published_feed"),
    "search without its GIN index": ("full-text search", "DROP INDEX ix_posts_search"),
    "search with the default statistics target": (
        "full-text search",
        "ALTER TABLE posts ALTER COLUMN search SET STATISTICS -1; ANALYZE posts",
    ),
    "search once the GIN pending list is merged": (
        "full-text search",
        "SELECT gin_clean_pending_list('ix_posts_search')",
    ),
}


async def _print_plans(url: str) -> None:  # pragma: no cover - the guide's reproduction script
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        if not (await connection.execute(text("SELECT count(*) FROM posts"))).scalar_one():
            await seed(connection)
            await connection.commit()
        author_id, after = await sample_position(connection)
        statements = listings(author_id, after)
        for name, statement in statements.items():
            await _print(connection, name, statement)
        await connection.rollback()
        for name, (listing, change) in VARIANTS.items():
            for part in change.split(";"):
                await connection.execute(text(part))
            await _print(connection, f"{name} (`{change}`)", statements[listing])
            await connection.rollback()  # the change is undone
    await engine.dispose()


async def _print(connection: AsyncConnection, name: str, statement: AnySelect) -> None:
    compiled = statement.compile(connection.sync_engine)  # type: ignore[arg-type]
    print(f"\n### {name}\n\n```sql\n{compiled}\n```\n")  # noqa: T201
    rows = (await connection.execute(Explain(statement, analyze=True, fmt="TEXT"))).scalars()
    print("```\n" + "\n".join(rows) + "\n```")  # noqa: T201


if __name__ == "__main__":
    asyncio.run(_print_plans(os.environ["DATABASE_URL"]))

"""The read paths are built for speed: a constant number of statements per request (no N+1),
and query plans that use the indexes made for them (no sequential scan of posts)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.posts.repository import AnySelect
from tests.factories import Account, create_account
from tests.posts.factories import bulk_posts
from tests.posts.query_plans import explain, listings, nodes, sample_position, scans, seed
from tests.posts.statements import statements_of


@pytest.fixture
async def many_posts(session: AsyncSession, app: FastAPI) -> dict[str, Any]:
    """150 posts by 5 authors with 3 tags and 2 comments each, a few drafts, one post with
    120 comments: enough that a page of 100 would cost 100+ queries if anything were lazy."""
    authors = [await create_account(session, app) for _ in range(5)]
    await bulk_posts(
        session,
        author_ids=[account.user.id for account in authors],
        count=150,
        tags=10,
        tags_per_post=3,
        comments_per_post=2,
        draft_every=30,
    )
    busy = (
        await session.execute(text("SELECT id FROM posts WHERE status = 'published' LIMIT 1"))
    ).scalar_one()
    await session.execute(
        text(
            "INSERT INTO comments (id, post_id, author_id, body) "
            "SELECT gen_random_uuid(), :post, :author, 'More ' || k "
            "FROM generate_series(1, 120) AS k"
        ),
        {"post": busy, "author": authors[0].user.id},
    )
    await session.execute(
        text("UPDATE posts SET comment_count = comment_count + 120 WHERE id = :post"),
        {"post": busy},
    )
    await session.commit()
    return {"authors": authors, "busy_post": busy}


@pytest.mark.checklist(
    "db.no-n-plus-one", "anti.db.n-plus-one", "perf.queries-optimized", "model.relationships"
)
async def test_every_list_costs_the_same_few_statements_for_1_or_100_items(
    client: httpx.AsyncClient, engine: AsyncEngine, many_posts: dict[str, Any]
) -> None:
    author: Account = many_posts["authors"][0]
    lists: dict[str, tuple[str, dict[str, Any], dict[str, str], int]] = {
        # Each list: its path, query, headers, and the statements it may cost.
        "feed": ("/api/v1/posts", {}, {}, 1),
        "by title": ("/api/v1/posts", {"sort": "-title"}, {}, 1),
        "tag filter": ("/api/v1/posts", {"tag": "tag-3"}, {}, 1),
        "author filter": ("/api/v1/posts", {"author_id": str(author.user.id)}, {}, 1),
        "search": ("/api/v1/posts", {"q": "databases"}, {}, 1),
        # + the statement that authenticates the bearer token
        "own drafts": ("/api/v1/posts", {"status": "draft"}, author.headers, 2),
        # + whether the user exists (404 otherwise)
        "user's posts": (f"/api/v1/users/{author.user.id}/posts", {}, {}, 2),
        # + whether the post is visible
        "comments": (f"/api/v1/posts/{many_posts['busy_post']}/comments", {}, {}, 2),
    }
    for name, (path, params, headers, expected) in lists.items():
        counts, sizes = [], []
        for limit in (1, 100):
            with statements_of(engine) as sent:
                response = await client.get(path, params=params | {"limit": limit}, headers=headers)
            assert response.status_code == 200, (name, response.text)
            counts.append(len(sent))
            sizes.append(len(response.json()["items"]))
        assert counts == [expected, expected], (name, counts, sent)
        assert sizes[0] == 1, name
        assert sizes[1] > 1, name  # a long page really was read


@pytest.mark.checklist("db.no-n-plus-one", "anti.db.n-plus-one", "model.relationships")
async def test_detail_and_export_cost_constant_statements(
    client: httpx.AsyncClient, engine: AsyncEngine, many_posts: dict[str, Any]
) -> None:
    author: Account = many_posts["authors"][0]
    with statements_of(engine) as sent:
        response = await client.get(f"/api/v1/posts/{many_posts['busy_post']}")
    assert response.status_code == 200
    # The post with its author (joined), then its tags and attachments: SELECT ... IN each.
    assert len(sent) == 3, sent
    with statements_of(engine) as sent:
        export = await client.get("/api/v1/users/me/posts/export", headers=author.headers)
    assert len(export.text.splitlines()) == 30  # every post of theirs, drafts included
    assert len(sent) == 2, sent  # authentication, then one server-side cursor


@pytest.mark.checklist("perf.queries-optimized", "anti.perf.unoptimized-queries")
async def test_the_list_query_selects_only_what_a_list_item_shows(
    client: httpx.AsyncClient, engine: AsyncEngine, many_posts: dict[str, Any]
) -> None:
    with statements_of(engine) as sent:
        await client.get("/api/v1/posts")
    [query] = sent
    selected = query.split(" FROM ", 1)[0]
    assert "posts.body" not in selected  # the excerpt column, not the (TOASTed) body
    assert "posts.search" not in selected
    assert "array_agg(tags.name" in query  # tags aggregated in the same statement
    assert "LIMIT" in query


@pytest.fixture
async def twenty_thousand_posts(session: AsyncSession) -> tuple[uuid.UUID, tuple[Any, uuid.UUID]]:
    """20 000 posts seeded inside the test's transaction (rolled back), then ANALYZE."""
    await seed(session)
    return await sample_position(session)


@pytest.mark.checklist(
    "db.indexes",
    "perf.queries-optimized",
    "anti.perf.unoptimized-queries",
    "api.pagination",
    "guide.indexing-query-plans",
)
async def test_every_listing_uses_its_index_and_a_deep_page_costs_what_the_first_does(
    session: AsyncSession, twenty_thousand_posts: tuple[uuid.UUID, tuple[Any, uuid.UUID]]
) -> None:
    author_id, halfway = twenty_thousand_posts
    expected_index = {
        "feed": "ix_posts_published_feed",
        "feed, next page": "ix_posts_published_feed",
        "by title": "ix_posts_published_title",
        "author filter": "ix_posts_author_published_feed",
        "tag filter": None,  # the feed index or the tag's links: the planner's choice
        "full-text search": "ix_posts_search",
    }
    for name, statement in listings(author_id, halfway).items():
        found = scans(await explain(session, statement))
        seq_scans = [scan.relation for scan in found if scan.node == "Seq Scan"]
        assert not {"posts", "post_tags", "comments"} & set(seq_scans), (name, found)
        indexes = {scan.index for scan in found}
        if expected_index[name]:
            assert expected_index[name] in indexes, (name, found)
        # Tags come from the primary key of post_tags, per post on the page.
        assert "pk_post_tags" in indexes or name == "tag filter", (name, found)
    tag_scans = scans(await explain(session, listings(author_id, halfway)["tag filter"]))
    assert {scan.index for scan in tag_scans} & {
        "ix_posts_published_feed",
        "ix_post_tags_tag_id_post_id",
    }, tag_scans

    # Keyset, not OFFSET: the page 9 000 posts down reads the same 21 index entries as the
    # first page, because its index range starts where the previous page ended.
    async def rows_read(statement: AnySelect) -> list[int]:
        plan = await explain(session, statement, analyze=True)
        return [
            node["Actual Rows"]
            for node in nodes(plan["Plan"])
            if node.get("Relation Name") == "posts"
        ]

    statements = listings(author_id, halfway)
    assert await rows_read(statements["feed"]) == [21]
    assert await rows_read(statements["feed, next page"]) == [21]

"""Caching of the posts reads: Redis cache-aside for the detail and the tags (hits, misses,
invalidation after every write, one recompute under a stampede, working without Redis), and
HTTP caching (ETag, Cache-Control, 304) on public GETs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.cache import Cache
from app.core.config import CacheSettings, RedisSettings, Settings
from app.core.metrics import CACHE_REQUESTS
from app.devstack.embedded import free_port
from app.main import create_app
from app.models import Post
from tests.conftest import ServiceUrls, make_settings, reads_of
from tests.factories import Account, create_account
from tests.posts.statements import statements_of

POSTS = "/api/v1/posts"


def cache_counts(name: str) -> dict[str, float]:
    return {
        result: CACHE_REQUESTS.labels(name, result)._value.get()
        for result in ("hit", "miss", "error")
    }


def since(before: dict[str, float], name: str) -> dict[str, float]:
    now = cache_counts(name)
    return {result: now[result] - before[result] for result in now}


async def _publish(client: httpx.AsyncClient, account: Account, **fields: object) -> str:
    body = {"title": "Cached", "body": "A post worth caching.", "status": "published"}
    response = await client.post(POSTS, headers=account.headers, json=body | fields)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.checklist("perf.caching", "anti.perf.no-caching")
async def test_the_detail_is_read_from_redis_until_a_write_invalidates_it(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, author: Account
) -> None:
    post_id = await _publish(client, author)
    before = cache_counts("post")
    with statements_of(engine) as miss:
        assert (await client.get(f"{POSTS}/{post_id}")).json()["title"] == "Cached"
    # A change behind the service's back (no invalidation) is not seen: this is the cache.
    await session.execute(update(Post).where(Post.id == post_id).values(title="Behind its back"))
    await session.commit()
    with statements_of(engine) as hit:
        assert (await client.get(f"{POSTS}/{post_id}")).json()["title"] == "Cached"
    assert (len(miss), len(hit)) == (3, 0)
    assert since(before, "post") == {"hit": 1, "miss": 1, "error": 0}

    edit = await client.patch(
        f"{POSTS}/{post_id}", headers=author.headers | {"If-Match": '"1"'}, json={"body": "New"}
    )
    assert edit.status_code == 200
    fresh = (await client.get(f"{POSTS}/{post_id}")).json()
    assert (fresh["title"], fresh["body"]) == ("Behind its back", "New")


@pytest.mark.checklist("perf.caching")
async def test_every_write_that_changes_the_detail_invalidates_it(
    client: httpx.AsyncClient, author: Account, reader: Account
) -> None:
    post_id = await _publish(client, author)
    url = f"{POSTS}/{post_id}"
    assert (await client.get(url)).json()["comment_count"] == 0  # cached now
    comment = await client.post(f"{url}/comments", headers=reader.headers, json={"body": "Hi"})
    assert comment.status_code == 201
    assert (await client.get(url)).json()["comment_count"] == 1
    upload = await client.post(
        f"{url}/attachments",
        headers=author.headers,
        files={"file": ("notes.txt", b"some notes", "text/plain")},
    )
    assert upload.status_code == 201
    detail = await client.get(url)
    assert [a["filename"] for a in detail.json()["attachments"]] == ["notes.txt"]
    assert detail.headers["etag"] == '"3"'  # created, commented, attached
    unpublish = await client.patch(
        url, headers=author.headers | {"If-Match": '"3"'}, json={"status": "draft"}
    )
    assert unpublish.status_code == 200
    assert (await client.get(url)).status_code == 404  # a draft now, not anyone's to read
    assert (await client.get(url, headers=author.headers)).json()["status"] == "draft"
    assert (await client.delete(url, headers=author.headers)).status_code == 204
    assert (await client.get(url, headers=author.headers)).status_code == 404


@pytest.mark.checklist("perf.caching", "anti.perf.no-caching")
async def test_tag_counts_are_cached_and_refreshed_when_a_post_is_published(
    client: httpx.AsyncClient, engine: AsyncEngine, author: Account
) -> None:
    await _publish(client, author, tags=["sql"])
    before = cache_counts("tags")
    assert (await client.get("/api/v1/tags")).json() == [{"name": "sql", "post_count": 1}]
    with statements_of(engine) as hit:
        await client.get("/api/v1/tags")
    assert hit == []
    draft_id = await _publish(client, author, tags=["sql", "api"], status="draft")
    assert (await client.get("/api/v1/tags")).json() == [{"name": "sql", "post_count": 1}]
    await client.patch(
        f"{POSTS}/{draft_id}",
        headers=author.headers | {"If-Match": '"1"'},
        json={"status": "published"},
    )
    assert (await client.get("/api/v1/tags")).json() == [
        {"name": "sql", "post_count": 2},
        {"name": "api", "post_count": 1},
    ]
    assert since(before, "tags")["miss"] == 2  # the first read, and the one after publishing


@pytest.fixture
async def writer(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> Account:
    """A member in a committing app (concurrent requests use separate connections)."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        return await create_account(session, committing_app)


@pytest.mark.checklist("perf.caching")
async def test_a_stampede_of_cold_reads_runs_the_expensive_query_once(
    app: FastAPI,
    settings: Settings,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    writer: Account,
) -> None:
    # Waiters give up after CACHE_WAIT_SECONDS and compute for themselves; a generous wait
    # keeps this test about the lock, not about how loaded the machine running it is.
    app.state.cache = Cache(
        app.state.redis, CacheSettings(wait_seconds=10), prefix=f"{settings.redis.key_prefix}cache:"
    )
    for tags in (["sql"], ["sql", "api"], ["queues"]):
        await _publish(client, writer, tags=tags)
    before = cache_counts("tags")
    # Public reads run on the app's read-only engine.
    with statements_of(app.state.read_engine) as sent:
        responses = await asyncio.gather(*(client.get("/api/v1/tags") for _ in range(20)))
    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    assert len([statement for statement in sent if "FROM tags JOIN post_tags" in statement]) == 1
    assert since(before, "tags") == {"hit": 19, "miss": 1, "error": 0}


@pytest.fixture
async def app_without_redis(
    services: ServiceUrls, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    """The app pointed at a port where no Redis listens."""
    settings = make_settings(
        services, redis=RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0")
    )
    application = create_app(settings)
    async with LifespanManager(application):
        application.state.sessionmaker = sessionmaker
        application.state.read_sessionmaker = reads_of(sessionmaker)
        yield application


@pytest.mark.checklist("perf.caching")
async def test_with_redis_down_every_read_and_write_still_works_from_the_database(
    app_without_redis: FastAPI, session: AsyncSession
) -> None:
    transport = httpx.ASGITransport(app=app_without_redis, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        author = await create_account(session, app_without_redis)
        before = cache_counts("post")
        post_id = await _publish(client, author, tags=["resilience"])
        url = f"{POSTS}/{post_id}"
        assert (await client.get(url)).status_code == 200
        edit = await client.patch(
            url, headers=author.headers | {"If-Match": '"1"'}, json={"title": "Still works"}
        )
        assert edit.status_code == 200  # its after-commit invalidation failed, quietly
        assert (await client.get(url)).json()["title"] == "Still works"
        tags = await client.get("/api/v1/tags")
        assert tags.json() == [{"name": "resilience", "post_count": 1}]
    assert since(before, "post")["error"] == 2
    assert since(before, "post")["hit"] == 0


@pytest.mark.checklist("perf.caching", "api.http-methods-status")
async def test_public_gets_carry_validators_and_answer_304_to_a_current_copy(
    client: httpx.AsyncClient, author: Account, session: AsyncSession
) -> None:
    post_id = await _publish(client, author)
    for path in (f"{POSTS}/{post_id}", POSTS, f"{POSTS}/{post_id}/comments", "/api/v1/tags"):
        first = await client.get(path)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "public, max-age=30"
        etag = first.headers["etag"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b""), path
        assert again.headers["etag"] == etag
    feed_etag = (await client.get(POSTS)).headers["etag"]
    await _publish(client, author, title="Another")
    changed = await client.get(POSTS, headers={"If-None-Match": feed_etag})
    assert changed.status_code == 200
    assert len(changed.json()["items"]) == 2


async def test_a_write_is_never_cached_by_http_caches(
    client: httpx.AsyncClient, author: Account
) -> None:
    response = await client.post(
        POSTS, headers=author.headers, json={"title": "t", "body": "b", "status": "published"}
    )
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/api/v1/users/me/posts/export", headers=author.headers)).headers[
        "cache-control"
    ] == "no-store"

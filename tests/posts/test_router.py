"""The posts contract end to end: writing, reading, visibility, concurrency control, lists."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import Page
from app.models import PostStatus
from app.posts.schemas import CommentRead, PostListItem, PostRead
from tests.factories import Account
from tests.posts.factories import create_comment, create_post

POSTS = "/api/v1/posts"
LIST_ITEM_FIELDS = {
    "id",
    "title",
    "excerpt",
    "author",
    "tags",
    "comment_count",
    "published_at",
}


async def _publish(
    client: httpx.AsyncClient, account: Account, **fields: object
) -> dict[str, object]:
    body = {"title": "Keyset pagination", "body": "Why OFFSET gets slow.", "status": "published"}
    response = await client.post(POSTS, headers=account.headers, json=body | fields)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


# --- writing -------------------------------------------------------------------------------


@pytest.mark.checklist("api.http-methods-status", "api.rest-conventions", "model.entities")
async def test_create_returns_201_with_location_etag_and_the_full_post(
    client: httpx.AsyncClient, author: Account
) -> None:
    response = await client.post(
        POSTS,
        headers=author.headers,
        json={
            "title": "  Indexes  ",
            "body": "Line one.\n\n   Line   two.",
            "tags": ["SQL", "postgres", "sql"],
            "status": "published",
        },
    )
    assert response.status_code == 201
    post = response.json()
    assert response.headers["location"] == f"{POSTS}/{post['id']}"
    assert response.headers["etag"] == '"1"'
    assert uuid.UUID(post["id"]).version == 7
    assert post["title"] == "Indexes"
    assert post["excerpt"] == "Line one. Line two."
    assert post["tags"] == ["postgres", "sql"]
    assert post["author"] == {"id": str(author.user.id), "full_name": "Ada Author"}
    assert post["status"] == "published"
    assert post["published_at"] is not None
    assert post["version"] == 1
    assert (post["comment_count"], post["attachments"]) == (0, [])


@pytest.mark.checklist("api.validation", "model.validation", "anti.sec.no-input-validation")
@pytest.mark.parametrize(
    "body",
    [
        {"title": "", "body": "x"},
        {"title": "   ", "body": "x"},
        {"title": "t" * 201, "body": "x"},
        {"title": "t", "body": ""},
        {"title": "t", "body": "x", "tags": ["Not A Slug"]},
        {"title": "t", "body": "x", "tags": [f"t{i}" for i in range(11)]},
        {"title": "t", "body": "x", "status": "archived"},
        {"title": "t", "body": "x", "author_id": str(uuid.uuid4())},
        {"title": "t", "body": "x", "comment_count": 5},
    ],
)
async def test_invalid_posts_are_422(
    client: httpx.AsyncClient, author: Account, body: dict[str, object]
) -> None:
    response = await client.post(POSTS, headers=author.headers, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.checklist("api.http-methods-status")
async def test_patch_needs_if_match_and_refuses_a_stale_one(
    client: httpx.AsyncClient, author: Account
) -> None:
    post = await _publish(client, author)
    url = f"{POSTS}/{post['id']}"
    missing = await client.patch(url, headers=author.headers, json={"title": "v2"})
    assert missing.status_code == 428
    first = await client.patch(
        url, headers=author.headers | {"If-Match": '"1"'}, json={"title": "v2", "tags": ["b"]}
    )
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    assert (first.json()["title"], first.json()["tags"]) == ("v2", ["b"])
    stale = await client.patch(
        url, headers=author.headers | {"If-Match": '"1"'}, json={"title": "lost update"}
    )
    assert stale.status_code == 412
    assert stale.json()["type"].endswith("/precondition-failed")
    weak = await client.patch(
        url, headers=author.headers | {"If-Match": 'W/"2"'}, json={"title": "weak"}
    )
    assert weak.status_code == 412  # If-Match compares strongly: a weak tag never matches
    assert (await client.get(url)).json()["title"] == "v2"


async def test_a_tag_only_change_still_moves_the_version(
    client: httpx.AsyncClient, author: Account
) -> None:
    post = await _publish(client, author, tags=["a"])
    response = await client.patch(
        f"{POSTS}/{post['id']}", headers=author.headers | {"If-Match": '"1"'}, json={"tags": []}
    )
    assert response.status_code == 200
    assert (response.json()["tags"], response.headers["etag"]) == ([], '"2"')


@pytest.mark.checklist("api.validation")
@pytest.mark.parametrize("body", [{}, {"title": None}, {"status": None}, {"tags": None}])
async def test_patch_needs_a_field_and_refuses_nulls(
    client: httpx.AsyncClient, author: Account, body: dict[str, object]
) -> None:
    post = await _publish(client, author)
    response = await client.patch(
        f"{POSTS}/{post['id']}", headers=author.headers | {"If-Match": '"1"'}, json=body
    )
    assert response.status_code == 422


async def test_publishing_and_unpublishing_set_and_clear_published_at(
    client: httpx.AsyncClient, author: Account
) -> None:
    draft = await _publish(client, author, status="draft")
    assert draft["published_at"] is None
    url = f"{POSTS}/{draft['id']}"
    published = await client.patch(
        url, headers=author.headers | {"If-Match": '"1"'}, json={"status": "published"}
    )
    assert published.json()["published_at"] is not None
    unpublished = await client.patch(
        url, headers=author.headers | {"If-Match": '"2"'}, json={"status": "draft"}
    )
    assert (unpublished.json()["status"], unpublished.json()["published_at"]) == ("draft", None)


@pytest.mark.checklist("auth.consistent-authz", "anti.sec.missing-authz")
async def test_only_the_author_or_a_moderator_may_change_a_post(
    client: httpx.AsyncClient, author: Account, reader: Account, moderator: Account
) -> None:
    post = await _publish(client, author)
    url = f"{POSTS}/{post['id']}"
    edit = {"title": "by someone else"}
    by_reader = await client.patch(url, headers=reader.headers | {"If-Match": '"1"'}, json=edit)
    assert by_reader.status_code == 403
    assert (await client.delete(url, headers=reader.headers)).status_code == 403
    by_moderator = await client.patch(
        url, headers=moderator.headers | {"If-Match": '"1"'}, json=edit
    )
    assert by_moderator.status_code == 200
    assert (await client.delete(url, headers=moderator.headers)).status_code == 204
    assert (await client.get(url)).status_code == 404


@pytest.mark.checklist("auth.consistent-authz", "anti.sec.missing-authz")
async def test_another_users_draft_is_404_everywhere(
    client: httpx.AsyncClient, author: Account, reader: Account, moderator: Account
) -> None:
    draft = await _publish(client, author, status="draft")
    url = f"{POSTS}/{draft['id']}"
    assert (await client.get(url)).status_code == 404
    assert (await client.get(url, headers=reader.headers)).status_code == 404
    assert (await client.get(f"{url}/comments", headers=reader.headers)).status_code == 404
    assert (
        await client.patch(url, headers=reader.headers | {"If-Match": '"1"'}, json={"title": "x"})
    ).status_code == 404
    assert (await client.delete(url, headers=reader.headers)).status_code == 404
    comment = await client.post(f"{url}/comments", headers=reader.headers, json={"body": "hi"})
    assert comment.status_code == 404
    # Its author and moderators see it, uncacheable by shared caches.
    own = await client.get(url, headers=author.headers)
    assert own.status_code == 200
    assert own.headers["cache-control"] == "private, no-cache"
    assert (await client.get(url, headers=moderator.headers)).status_code == 200


async def test_delete_with_a_stale_if_match_is_412_and_keeps_the_post(
    client: httpx.AsyncClient, author: Account
) -> None:
    post = await _publish(client, author)
    url = f"{POSTS}/{post['id']}"
    stale = await client.delete(url, headers=author.headers | {"If-Match": '"7"'})
    assert stale.status_code == 412
    current = await client.delete(url, headers=author.headers | {"If-Match": '"1"'})
    assert current.status_code == 204
    assert (await client.get(url)).status_code == 404


# --- comments ------------------------------------------------------------------------------


@pytest.mark.checklist("db.transactions")
async def test_a_comment_is_counted_on_its_post_and_moves_its_etag(
    client: httpx.AsyncClient, author: Account, reader: Account
) -> None:
    post = await _publish(client, author)
    url = f"{POSTS}/{post['id']}"
    before = await client.get(url)
    response = await client.post(f"{url}/comments", headers=reader.headers, json={"body": " Hi "})
    assert response.status_code == 201
    assert response.json()["body"] == "Hi"
    assert response.json()["author"] == {"id": str(reader.user.id), "full_name": "Rita Reader"}
    after = await client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200  # the representation changed: the old copy is stale
    assert after.json()["comment_count"] == 1
    assert after.headers["etag"] == '"2"'


async def test_comments_open_once_the_post_is_published(
    client: httpx.AsyncClient, author: Account
) -> None:
    draft = await _publish(client, author, status="draft")
    response = await client.post(
        f"{POSTS}/{draft['id']}/comments", headers=author.headers, json={"body": "note to self"}
    )
    assert response.status_code == 409


@pytest.mark.checklist("api.pagination")
async def test_comments_are_listed_oldest_first_page_by_page(
    client: httpx.AsyncClient, session: AsyncSession, author: Account, reader: Account
) -> None:
    post = await create_post(session, author_id=author.user.id)
    written = [
        str((await create_comment(session, post_id=post.id, author_id=reader.user.id)).id)
        for _ in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{POSTS}/{post.id}/comments", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == written


# --- lists ---------------------------------------------------------------------------------


@pytest.mark.checklist("anti.api.overfetching", "perf.queries-optimized")
async def test_list_items_carry_what_a_feed_shows_and_no_body(
    client: httpx.AsyncClient, session: AsyncSession, author: Account, reader: Account
) -> None:
    post = await create_post(
        session, author_id=author.user.id, body="B" * 5_000, tags=("sql", "api")
    )
    await create_comment(session, post_id=post.id, author_id=reader.user.id)
    response = await client.get(POSTS)
    [item] = response.json()["items"]
    assert set(item) == LIST_ITEM_FIELDS
    assert item["author"] == {"id": str(author.user.id), "full_name": "Ada Author"}
    assert (item["tags"], item["comment_count"]) == (["api", "sql"], 1)
    assert item["excerpt"] == "B" * 200
    assert "B" * 201 not in response.text


@pytest.mark.checklist("api.validation")
async def test_lists_answered_as_raw_bytes_match_their_documented_schema(
    client: httpx.AsyncClient, session: AsyncSession, author: Account, reader: Account
) -> None:
    """The list routes skip FastAPI's response validation for speed; this is the check."""
    post = await create_post(session, author_id=author.user.id, tags=("sql",))
    await create_post(session, author_id=author.user.id, status=PostStatus.DRAFT)
    await create_comment(session, post_id=post.id, author_id=reader.user.id)
    pages = {
        Page[PostListItem]: [
            await client.get(POSTS, params={"limit": 1}),
            await client.get(POSTS, params={"status": "draft"}, headers=author.headers),
            await client.get(f"/api/v1/users/{author.user.id}/posts"),
        ],
        Page[CommentRead]: [await client.get(f"{POSTS}/{post.id}/comments")],
        PostRead: [await client.get(f"{POSTS}/{post.id}")],
    }
    for model, responses in pages.items():
        for response in responses:
            assert response.status_code == 200
            validated = model.model_validate_json(response.content)
            assert orjson.loads(validated.model_dump_json()) == response.json()


@pytest.mark.checklist("api.pagination", "anti.api.no-pagination")
@pytest.mark.parametrize("sort", ["-published_at", "published_at", "title", "-title"])
async def test_every_sort_pages_through_every_post_once_in_order(
    client: httpx.AsyncClient, session: AsyncSession, author: Account, sort: str
) -> None:
    titles = ["delta", "alpha", "echo", "charlie", "bravo", "alpha"]  # a tie on title too
    for title in titles:
        await create_post(session, author_id=author.user.id, title=title)
    pages: list[list[dict[str, object]]] = []
    cursor = None
    while True:
        params = {"sort": sort, "limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(POSTS, params=params)
        assert response.status_code == 200
        pages.append(response.json()["items"])
        if (cursor := response.json()["next_cursor"]) is None:
            break
    items = [item for page in pages for item in page]
    assert [len(page) for page in pages] == [2, 2, 2]
    assert len({item["id"] for item in items}) == len(titles)
    field = sort.removeprefix("-")
    keys = [(item[field], item["id"]) for item in items]
    assert keys == sorted(keys, reverse=sort.startswith("-"))


@pytest.mark.checklist("api.pagination", "api.validation", "anti.api.no-pagination")
@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": "false"},
        {"sort": "body"},
        {"sort": "-id"},
        {"cursor": "garbage"},
        {"cursor": "e30.AAAA"},
        {"tag": "Not a slug"},
        {"status": "archived"},
        {"author_id": "me"},
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await client.get(POSTS, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.checklist("api.pagination")
async def test_a_cursor_only_works_for_the_sort_it_was_issued_for(
    client: httpx.AsyncClient, session: AsyncSession, author: Account
) -> None:
    for _ in range(3):
        await create_post(session, author_id=author.user.id)
    cursor = (await client.get(POSTS, params={"limit": 1})).json()["next_cursor"]
    assert (await client.get(POSTS, params={"cursor": cursor})).status_code == 200
    wrong = await client.get(POSTS, params={"cursor": cursor, "sort": "title"})
    assert wrong.status_code == 422
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert (await client.get(POSTS, params={"cursor": tampered})).status_code == 422


async def test_the_feed_filters_by_tag_author_and_text(
    client: httpx.AsyncClient, session: AsyncSession, author: Account, reader: Account
) -> None:
    sql = await create_post(
        session, author_id=author.user.id, title="Vacuum explained", tags=("sql",)
    )
    queues = await create_post(
        session, author_id=reader.user.id, body="Celery retries and idempotency.", tags=("queues",)
    )
    await create_post(session, author_id=author.user.id, status=PostStatus.DRAFT, tags=("sql",))

    async def ids(**params: object) -> list[str]:
        return [item["id"] for item in (await client.get(POSTS, params=params)).json()["items"]]

    assert await ids(tag="sql") == [str(sql.id)]
    assert await ids(tag="nonexistent") == []
    assert await ids(author_id=str(reader.user.id)) == [str(queues.id)]
    assert await ids(q="vacuum") == [str(sql.id)]  # the title, stemmed
    assert await ids(q="retry") == [str(queues.id)]  # the body, stemmed (retries -> retri)
    assert await ids(q="idempotency -celery") == []
    assert await ids(q="vacuum", tag="queues") == []


async def test_authors_list_their_own_drafts(
    client: httpx.AsyncClient, session: AsyncSession, author: Account, reader: Account
) -> None:
    mine = [
        await create_post(session, author_id=author.user.id, status=PostStatus.DRAFT)
        for _ in range(3)
    ]
    await create_post(session, author_id=reader.user.id, status=PostStatus.DRAFT)
    await create_post(session, author_id=author.user.id)
    response = await client.get(POSTS, params={"status": "draft"}, headers=author.headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-cache"
    items = response.json()["items"]
    assert [item["id"] for item in items] == [str(post.id) for post in reversed(mine)]
    assert all(item["published_at"] is None for item in items)
    assert (await client.get(POSTS, params={"status": "draft"})).status_code == 401
    others = await client.get(
        POSTS, params={"status": "draft", "author_id": str(reader.user.id)}, headers=author.headers
    )
    assert others.json()["items"] == []


async def test_a_users_posts_are_their_published_posts(
    client: httpx.AsyncClient, session: AsyncSession, author: Account
) -> None:
    published = await create_post(session, author_id=author.user.id)
    await create_post(session, author_id=author.user.id, status=PostStatus.DRAFT)
    response = await client.get(f"/api/v1/users/{author.user.id}/posts")
    assert [item["id"] for item in response.json()["items"]] == [str(published.id)]
    unknown = await client.get(f"/api/v1/users/{uuid.uuid4()}/posts")
    assert unknown.status_code == 404


@pytest.mark.checklist("anti.api.unvalidated-ids")
async def test_malformed_and_unknown_post_ids(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{POSTS}/not-a-uuid")).status_code == 422
    assert (await client.get(f"{POSTS}/{uuid.uuid4()}")).status_code == 404
    assert (await client.get(f"{POSTS}/{uuid.uuid4()}/comments")).status_code == 404


async def test_popular_tags_count_published_posts_only(
    client: httpx.AsyncClient, session: AsyncSession, author: Account
) -> None:
    await create_post(session, author_id=author.user.id, tags=("sql", "api"))
    await create_post(session, author_id=author.user.id, tags=("sql",))
    await create_post(session, author_id=author.user.id, tags=("drafty",), status=PostStatus.DRAFT)
    response = await client.get("/api/v1/tags")
    assert response.json() == [{"name": "sql", "post_count": 2}, {"name": "api", "post_count": 1}]

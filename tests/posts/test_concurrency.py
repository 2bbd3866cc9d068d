"""Concurrent writers, with real commits on separate connections: counters stay exact and
edits can't silently overwrite each other."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import create_sessionmaker
from app.models import Comment, Post
from app.posts import service
from app.posts.errors import PreconditionFailed
from tests.factories import Account, create_account

POSTS = "/api/v1/posts"


@pytest.fixture
async def members(committing_app: FastAPI, engine: AsyncEngine) -> list[Account]:
    async with create_sessionmaker(engine)() as session:
        return [await create_account(session, committing_app) for _ in range(3)]


async def _publish(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post(
        POSTS,
        headers=account.headers,
        json={"title": "Busy", "body": "Everyone comments here.", "status": "published"},
    )
    assert response.status_code == 201
    return str(response.json()["id"])


@pytest.mark.checklist("db.transactions", "anti.db.no-transactions")
async def test_concurrent_comments_are_all_counted_exactly(
    client: httpx.AsyncClient, engine: AsyncEngine, members: list[Account]
) -> None:
    post_id = await _publish(client, members[0])
    responses = await asyncio.gather(
        *(
            client.post(
                f"{POSTS}/{post_id}/comments",
                headers=members[n % 3].headers,
                json={"body": f"Comment {n}"},
            )
            for n in range(24)
        )
    )
    assert [response.status_code for response in responses] == [201] * 24
    async with create_sessionmaker(engine)() as session:
        counter, version = (
            await session.execute(
                select(Post.comment_count, Post.version).where(Post.id == post_id)
            )
        ).one()
        stored = await session.scalar(select(func.count()).select_from(Comment))
    assert counter == stored == 24
    assert version == 25  # each comment changed the post's representation


@pytest.mark.checklist("db.transactions", "api.http-methods-status")
async def test_of_two_concurrent_edits_of_one_version_exactly_one_wins(
    client: httpx.AsyncClient, members: list[Account]
) -> None:
    post_id = await _publish(client, members[0])
    edits = await asyncio.gather(
        *(
            client.patch(
                f"{POSTS}/{post_id}",
                headers=members[0].headers | {"If-Match": '"1"'},
                json={"title": f"Edit {n}"},
            )
            for n in range(2)
        )
    )
    assert sorted(edit.status_code for edit in edits) == [200, 412]
    [winner] = [edit for edit in edits if edit.status_code == 200]
    current = (await client.get(f"{POSTS}/{post_id}")).json()
    assert current["title"] == winner.json()["title"]
    assert current["version"] == 2


@pytest.mark.checklist("db.transactions")
async def test_a_change_committed_between_read_and_write_fails_the_write(
    client: httpx.AsyncClient, committing_app: FastAPI, engine: AsyncEngine, members: list[Account]
) -> None:
    """The window If-Match alone can't close: both writers read version 1 and pass the check;
    the UPDATE's `WHERE version = 1` (SQLAlchemy's version_id_col) refuses the second."""
    post_id = await _publish(client, members[0])
    viewer = service.Viewer(user_id=members[0].user.id)
    sessionmaker = create_sessionmaker(engine)
    cache = committing_app.state.cache
    async with sessionmaker() as first, sessionmaker() as second:
        mine = await service.get_for_write(first, post_id=post_id, viewer=viewer, action="update")
        theirs = await service.get_for_write(
            second, post_id=post_id, viewer=viewer, action="update"
        )
        await service.update_post(first, cache, mine, if_match='"1"', changes={"title": "First"})
        await first.commit()
        with pytest.raises(PreconditionFailed):
            await service.update_post(
                second, cache, theirs, if_match='"1"', changes={"title": "Lost update"}
            )
    assert (await client.get(f"{POSTS}/{post_id}")).json()["title"] == "First"

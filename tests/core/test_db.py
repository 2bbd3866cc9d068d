"""The request's unit of work: one commit after the handler, before the response."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import SessionDep, create_sessionmaker
from app.core.errors import Conflict

pytestmark = pytest.mark.checklist("db.transactions", "anti.db.no-transactions")


@pytest.fixture
async def committing_app(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The app with real commits (not the test's rolled-back savepoints), on a scratch table."""
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE uow_probe (value int NOT NULL)"))
    app.state.sessionmaker = create_sessionmaker(engine)
    yield app
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE uow_probe"))


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM uow_probe"))).scalar_one())


async def test_a_failing_commit_yields_an_error_response_not_a_200(
    committing_app: FastAPI, client: httpx.AsyncClient
) -> None:
    @committing_app.post("/probe/deferred-violation")
    async def violate(session: SessionDep) -> dict[str, str]:
        # A deferred constraint is checked only at COMMIT, after the handler has returned.
        await session.execute(
            text(
                "CREATE TEMP TABLE deferred_probe (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
                " ON COMMIT DROP"
            )
        )
        await session.execute(text("INSERT INTO deferred_probe VALUES (1), (1)"))
        return {"status": "looked fine to the handler"}

    response = await client.post("/probe/deferred-violation")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


async def test_handler_success_commits_once(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    @committing_app.post("/probe/write")
    async def write(session: SessionDep) -> dict[str, int]:
        await session.execute(text("INSERT INTO uow_probe VALUES (1), (2)"))
        return {"written": 2}

    assert (await client.post("/probe/write")).status_code == 200
    assert await _count(engine) == 2


async def test_an_error_after_a_write_rolls_the_whole_request_back(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    @committing_app.post("/probe/half-done")
    async def half_done(session: SessionDep) -> None:
        await session.execute(text("INSERT INTO uow_probe VALUES (1)"))
        raise Conflict("second step failed")

    response = await client.post("/probe/half-done")
    assert response.status_code == 409
    assert await _count(engine) == 0

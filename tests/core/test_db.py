"""The request's unit of work: one commit after the handler, before the response."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import DatabaseSettings
from app.core.db import SessionDep, create_engine, create_sessionmaker, on_commit
from app.core.errors import Conflict
from app.main import create_app
from tests.conftest import ServiceUrls, make_settings


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


@pytest.mark.checklist("db.transactions", "anti.db.no-transactions")
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


@pytest.mark.checklist("db.transactions", "anti.db.no-transactions")
async def test_handler_success_commits_once(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    @committing_app.post("/probe/write")
    async def write(session: SessionDep) -> dict[str, int]:
        await session.execute(text("INSERT INTO uow_probe VALUES (1), (2)"))
        return {"written": 2}

    assert (await client.post("/probe/write")).status_code == 200
    assert await _count(engine) == 2


@pytest.mark.checklist("db.transactions", "anti.db.no-transactions")
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


@pytest.mark.checklist("db.pooling", "perf.db-pooling", "anti.db.no-pooling")
async def test_pool_is_sized_from_settings_and_an_exhausted_pool_answers_503_fast(
    services: ServiceUrls,
) -> None:
    settings = make_settings(
        services,
        db=DatabaseSettings(
            url=services.database_url, pool_size=1, max_overflow=0, pool_timeout=0.5
        ),
    )
    app = create_app(settings)

    @app.get("/probe/db")
    async def probe(session: SessionDep) -> dict[str, int]:
        return {"one": int((await session.execute(text("SELECT 1"))).scalar_one())}

    async with LifespanManager(app):
        pool = app.state.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (1, 0, 0.5)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/probe/db")).json() == {"one": 1}
            async with app.state.engine.connect():  # the only connection is now taken
                started = time.monotonic()
                response = await client.get("/probe/db")
                waited = time.monotonic() - started
            assert (await client.get("/probe/db")).status_code == 200  # recovered
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert waited < 2.0


@pytest.mark.checklist("perf.resource-cleanup")
async def test_lifespan_returns_every_connection_and_closes_the_pools(
    services: ServiceUrls,
) -> None:
    app = create_app(make_settings(services))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(5):
                assert (await client.get("/health/ready")).status_code == 200
        engine, redis = app.state.engine, app.state.redis
        assert engine.pool.checkedout() == 0
    assert engine.pool.checkedin() == 0  # disposed: nothing left open
    # redis-py 6 (the locked version) keeps these two private collections.
    connections = [*redis.connection_pool._available_connections]
    connections += [*redis.connection_pool._in_use_connections]
    assert not any(connection.is_connected for connection in connections)


@pytest.mark.checklist("db.transactions")
async def test_after_commit_callbacks_run_only_when_the_commit_happened(
    committing_app: FastAPI, client: httpx.AsyncClient
) -> None:
    ran: list[str] = []

    @committing_app.post("/probe/after-commit/{outcome}")
    async def probe(outcome: str, session: SessionDep) -> dict[str, str]:
        async def record() -> None:
            ran.append(outcome)

        on_commit(session, record)
        await session.execute(text("SELECT 1"))
        if outcome == "fail":
            raise Conflict("rolled back")
        return {"outcome": outcome}

    assert (await client.post("/probe/after-commit/ok")).status_code == 200
    assert (await client.post("/probe/after-commit/fail")).status_code == 409
    assert ran == ["ok"]


@pytest.mark.checklist("perf.horizontal-scaling")
async def test_pgbouncer_mode_works_without_prepared_statement_caches(
    services: ServiceUrls,
) -> None:
    from app.core.db import create_engine  # noqa: PLC0415

    engine = create_engine(DatabaseSettings(url=services.database_url, pgbouncer=True))
    try:
        async with engine.connect() as connection:
            for value in (1, 2, 3):  # the same statement, re-prepared under a new name each time
                result = await connection.execute(text("SELECT CAST(:v AS int)"), {"v": value})
                assert result.scalar_one() == value
            raw = await connection.get_raw_connection()
            assert raw.driver_connection._stmt_cache.get_max_size() == 0
    finally:
        await engine.dispose()


@pytest.mark.checklist("db.transactions", "perf.queries-optimized")
async def test_the_read_only_engine_refuses_writes_and_needs_no_transaction(
    services: ServiceUrls,
) -> None:
    from app.core.db import create_engine  # noqa: PLC0415

    engine = create_engine(DatabaseSettings(url=services.database_url), read_only=True)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
            raw = await connection.get_raw_connection()
            assert not raw.driver_connection.is_in_transaction()  # autocommit: no BEGIN
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await connection.execute(text("UPDATE users SET full_name = full_name"))
    finally:
        await engine.dispose()


@pytest.mark.checklist("db.pooling", "perf.db-pooling", "anti.db.no-pooling")
async def test_steady_load_reuses_the_pools_connections_instead_of_opening_new_ones(
    services: ServiceUrls,
) -> None:
    # With the old defaults (10 kept + 10 overflow), 15 requests at once for a while opened
    # and closed a connection every few requests: an overflow connection is closed as soon as
    # it is returned. The feed lost a third of its throughput to it (docs/performance.md).
    engine = create_engine(DatabaseSettings(url=services.database_url))
    backends: set[int] = set()

    async def request() -> None:
        async with engine.connect() as connection:
            backends.add((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            await asyncio.sleep(0.005)  # the handler's own work, holding the connection

    try:
        for _ in range(20):
            await asyncio.gather(*(request() for _ in range(15)))
    finally:
        await engine.dispose()
    assert len(backends) <= 15

"""The test harness: real PostgreSQL and Redis, a fresh database per run, isolation per test.

- The schema comes from `alembic upgrade head`, never from `create_all`.
- Each test runs inside an outer transaction that is rolled back at the end; the app's
  sessions join it with `join_transaction_mode="create_savepoint"`, so code under test may
  commit freely and still leaves nothing behind.
- Each test gets its own Redis key prefix, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.config import (
    AuthSettings,
    DatabaseSettings,
    Environment,
    RedisSettings,
    Settings,
    get_settings,
)
from app.core.db import create_engine, create_sessionmaker
from app.devstack.migrate import upgrade_to_head
from app.main import create_app
from tests.services import postgres_server_url, redis_server_url

pytest_plugins = ["pytester", "tests.checklist_plugin", "tests.workers"]


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str
    run_id: str


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceUrls]:
    """A fresh, migrated database for this run on a real PostgreSQL, and a real Redis."""
    run_id = uuid.uuid4().hex[:10]
    workdir = tmp_path_factory.mktemp("services")
    with ExitStack() as stack:
        server_url = stack.enter_context(postgres_server_url(stack, workdir))
        redis_url = stack.enter_context(redis_server_url(stack, workdir))
        database = f"test_{run_id}"
        asyncio.run(admin_statement(server_url, f'CREATE DATABASE "{database}"'))
        stack.callback(
            lambda: asyncio.run(
                admin_statement(server_url, f'DROP DATABASE "{database}" WITH (FORCE)')
            )
        )
        database_url = (
            make_url(server_url).set(database=database).render_as_string(hide_password=False)
        )
        upgrade_to_head(database_url)
        # Subprocesses (the Celery worker, a second API) and `get_settings()` see the same.
        os.environ.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            APP_ENV="test",
            REDIS_KEY_PREFIX=f"test:{run_id}:",
            BLOB_DIR=str(workdir / "blobs"),
        )
        get_settings.cache_clear()
        yield ServiceUrls(database_url=database_url, redis_url=redis_url, run_id=run_id)
        get_settings.cache_clear()


async def admin_statement(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def make_settings(services: ServiceUrls, **overrides: object) -> Settings:
    """Settings for a test app: the run's database and Redis, a per-test Redis prefix."""
    values: dict[str, object] = {
        "app_env": Environment.TEST,
        "db": DatabaseSettings(url=services.database_url),
        "redis": RedisSettings(
            url=services.redis_url, key_prefix=f"test:{services.run_id}:{uuid.uuid4().hex[:8]}:"
        ),
        # Cheap hashing parameters keep the suite fast; the production defaults are measured by
        # `make bench`, and tests that need realistic costs set them explicitly.
        "auth": AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1),
        # Files (exports) of this run, outside the work tree; the same directory for the app
        # and the workers (BLOB_DIR in the environment).
        "blob_dir": Path(os.environ["BLOB_DIR"]),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(services: ServiceUrls) -> Settings:
    return make_settings(services)


@pytest.fixture(scope="session")
async def engine(services: ServiceUrls) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=services.database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The test's outer transaction: everything the test and the app write is rolled back."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


def reads_of(sessionmaker: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """The app's read-only sessions for a test: on the test's connection, inside its outer
    transaction but without savepoints of their own (they never write or commit), so they
    don't interleave with the write session's savepoints."""
    return async_sessionmaker(
        bind=sessionmaker.kw["bind"], expire_on_commit=False, join_transaction_mode="rollback_only"
    )


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A Redis client; every key under this test's prefix is deleted afterwards."""
    client = Redis.from_url(settings.redis.url or "")
    yield client
    keys = [key async for key in client.scan_iter(match=f"{settings.redis.key_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def app(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> AsyncIterator[FastAPI]:
    """The real app, with its lifespan, whose sessions join the test's outer transaction."""
    application = create_app(settings)
    async with LifespanManager(application):
        application.state.sessionmaker = sessionmaker
        application.state.read_sessionmaker = reads_of(sessionmaker)
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_for(
    services: ServiceUrls, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AppClient:
    """`async with client_for(rate_limit=...) as client:` an app built with settings overrides,
    sharing the test's transaction (unless `own_database=True`) and Redis prefix."""

    @asynccontextmanager
    async def open_client(
        *, own_database: bool = False, **overrides: object
    ) -> AsyncIterator[httpx.AsyncClient]:
        custom = make_settings(services, **{"redis": settings.redis, **overrides})
        application = create_app(custom)
        async with LifespanManager(application):
            if not own_database:
                application.state.sessionmaker = sessionmaker
                application.state.read_sessionmaker = (
                    sessionmaker  # reads join the test's transaction too
                )
            transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c

    return open_client


@pytest.fixture
async def committing_app(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """The app with real commits on separate connections, for tests of concurrency.

    Everything but the migration-seeded RBAC tables is truncated afterwards.
    """
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.read_sessionmaker = create_sessionmaker(app.state.read_engine)
    yield app
    await truncate_all(engine)


async def truncate_all(engine: AsyncEngine) -> None:
    keep = {"alembic_version", "roles", "permissions", "role_permissions"}
    async with engine.begin() as connection:
        tables = (
            await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        ).scalars()
        names = [f'"{name}"' for name in tables if name not in keep]
        if names:
            await connection.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))


STRONG_SECRET = "s" * 48


def prod_secrets() -> dict[str, object]:
    """Settings overrides that give every secret a real (non-default) value, for tests of
    APP_ENV=prod; extend it when a new secret setting is added."""
    from pydantic import SecretStr  # noqa: PLC0415

    from app.core.config import PaymentsSettings, WebhooksSettings  # noqa: PLC0415

    return {
        "app_env": Environment.PROD,
        "secret_key": SecretStr(STRONG_SECRET),
        "auth": AuthSettings(
            jwt_keys={"k1": SecretStr(STRONG_SECRET)},
            jwt_active_kid="k1",
            api_key_pepper=SecretStr(STRONG_SECRET),
        ),
        "payments": PaymentsSettings(
            base_url="https://api.payments.example",
            api_key=SecretStr(STRONG_SECRET),
            webhook_secret=SecretStr(STRONG_SECRET),
        ),
        "webhooks": WebhooksSettings(encryption_keys=[SecretStr(STRONG_SECRET)]),
    }

"""Migrations: each one is reversible on a database holding data, and together they build
exactly the schema the models describe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.devstack.migrate import alembic_config
from app.models import Base
from tests.conftest import ServiceUrls, _admin

pytestmark = pytest.mark.checklist("db.reversible-migrations", "anti.db.irreversible-migrations")


@pytest.fixture
async def scratch_url(services: ServiceUrls) -> AsyncIterator[str]:
    """An empty database of its own (the suite's database stays at head throughout)."""
    url = make_url(services.database_url)
    name = f"{url.database}_migrations"
    server = url.set(database="postgres").render_as_string(hide_password=False)
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(server, f'DROP DATABASE "{name}" WITH (FORCE)')


async def _alembic(url: str, action: str, revision: str) -> None:
    # Alembic's env.py runs its own event loop, so it runs in a thread, not on this one.
    await asyncio.to_thread(getattr(command, action), alembic_config(url), revision)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT tablename FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        )
        return set(rows.scalars())


async def _add_rows(engine: AsyncEngine) -> None:
    """A little of everything, so downgrades run against real rows and foreign keys."""
    async with engine.begin() as connection:
        tables = await _tables(engine)
        if "users" in tables:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, full_name, password_hash) VALUES "
                    "(gen_random_uuid(), 'm' || gen_random_uuid() || '@example.com', 'M', '-')"
                )
            )
        if "posts" in tables:
            await connection.execute(
                text(
                    "INSERT INTO posts (id, author_id, title, body, status, published_at) "
                    "SELECT gen_random_uuid(), id, 'T', 'B', 'published', now() FROM users"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO comments (id, post_id, author_id, body) "
                    "SELECT gen_random_uuid(), id, author_id, 'C' FROM posts"
                )
            )


async def test_every_migration_downgrades_and_upgrades_again_with_data_present(
    scratch_url: str,
) -> None:
    revisions = [
        script.revision
        for script in reversed(
            list(ScriptDirectory.from_config(alembic_config(scratch_url)).walk_revisions())
        )
    ]
    engine = create_async_engine(scratch_url)
    try:
        schemas: list[set[str]] = [await _tables(engine)]
        for revision in revisions:  # up, one step at a time, adding rows at each step
            await _alembic(scratch_url, "upgrade", revision)
            await _add_rows(engine)
            schemas.append(await _tables(engine))
        for step in range(len(revisions), 0, -1):  # down, one step at a time
            await _alembic(scratch_url, "downgrade", "-1")
            assert await _tables(engine) == schemas[step - 1], revisions[step - 1]
        await _alembic(scratch_url, "upgrade", "head")
        assert await _tables(engine) == schemas[-1]
    finally:
        await engine.dispose()
    assert "0002_posts" in revisions
    assert {"posts", "tags", "post_tags", "comments", "attachments"} <= schemas[-1]


async def test_the_migrations_build_exactly_what_the_models_describe(engine: AsyncEngine) -> None:
    """`alembic check` as a test: a model change without its migration fails here."""

    def differences(connection: object) -> list[object]:
        context = MigrationContext.configure(
            connection,  # type: ignore[arg-type]
            opts={"compare_type": True, "compare_server_default": True},
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []

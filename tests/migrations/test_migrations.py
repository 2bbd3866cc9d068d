"""The migration history: one head, reversible steps, models matching the DDL, and the rules
every table must follow (indexed foreign keys, audit timestamps), read from pg_catalog so a new
table that breaks them fails here."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from pytest_alembic import MigrationContext
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.devstack.migrate import alembic_config

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]

pytestmark = pytest.mark.checklist("db.reversible-migrations", "anti.db.irreversible-migrations")

# Data written at head before the round trip: one row per table family, so downgrades run
# against real rows (a NOT NULL column added without a default, a type change that can't
# cast, a constraint the data violates all fail here, not in production).
SAMPLE_DATA = [
    """INSERT INTO users (id, email, full_name, password_hash)
       VALUES ('01900000-0000-7000-8000-000000000001', 'round@example.com', 'Round Trip', 'x')""",
    """INSERT INTO user_roles (user_id, role_id)
       SELECT '01900000-0000-7000-8000-000000000001', id FROM roles WHERE name = 'member'""",
    """INSERT INTO auth_sessions (id, user_id, expires_at)
       VALUES ('01900000-0000-7000-8000-000000000002', '01900000-0000-7000-8000-000000000001',
               now() + interval '1 day')""",
    """INSERT INTO refresh_tokens (id, session_id, token_hash, expires_at)
       VALUES ('01900000-0000-7000-8000-000000000003', '01900000-0000-7000-8000-000000000002',
               repeat('a', 64), now() + interval '1 day')""",
    """INSERT INTO api_keys (id, user_id, name, prefix, key_hash)
       VALUES ('01900000-0000-7000-8000-000000000004', '01900000-0000-7000-8000-000000000001',
               'k', 'abcdefabcdef', repeat('b', 64))""",
    """INSERT INTO posts (id, author_id, title, body, status, published_at)
       VALUES ('01900000-0000-7000-8000-000000000005', '01900000-0000-7000-8000-000000000001',
               'Round trip', 'A body', 'published', now())""",
    """INSERT INTO comments (id, post_id, author_id, body)
       VALUES ('01900000-0000-7000-8000-000000000006', '01900000-0000-7000-8000-000000000005',
               '01900000-0000-7000-8000-000000000001', 'A comment')""",
]


async def _execute(engine: AsyncEngine, *statements: str) -> list[list[tuple[object, ...]]]:
    results = []
    async with engine.begin() as connection:
        for statement in statements:
            result = await connection.execute(text(statement))
            results.append([tuple(row) for row in result] if result.returns_rows else [])
    await engine.dispose()
    return results


def test_round_trip_to_base_and_back_with_data(
    alembic_runner: MigrationContext, alembic_engine: AsyncEngine
) -> None:
    alembic_runner.migrate_up_to("heads")
    asyncio.run(_execute(alembic_engine, *SAMPLE_DATA))
    alembic_runner.migrate_down_to("base")
    [[tables]] = asyncio.run(
        _execute(
            alembic_engine,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'",
        )
    )
    assert tables == (0,)
    alembic_runner.migrate_up_to("heads")


@pytest.mark.checklist("anti.db.fk-without-index", "db.indexes")
def test_every_foreign_key_is_covered_by_an_index(
    alembic_runner: MigrationContext, alembic_engine: AsyncEngine
) -> None:
    alembic_runner.migrate_up_to("heads")
    # A foreign key is covered when some index starts with exactly its columns.
    [unindexed] = asyncio.run(
        _execute(
            alembic_engine,
            """
            SELECT c.conrelid::regclass::text, c.conname
            FROM pg_constraint c
            WHERE c.contype = 'f'
              AND NOT EXISTS (
                SELECT 1 FROM pg_index i
                WHERE i.indrelid = c.conrelid
                  AND (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] = c.conkey
              )
            ORDER BY 1, 2
            """,
        )
    )
    assert unindexed == [], f"foreign keys without an index: {unindexed}"


@pytest.mark.checklist("model.timestamps")
def test_every_table_has_audit_timestamps(
    alembic_runner: MigrationContext, alembic_engine: AsyncEngine
) -> None:
    alembic_runner.migrate_up_to("heads")
    [missing] = asyncio.run(
        _execute(
            alembic_engine,
            """
            SELECT t.tablename, column_name
            FROM pg_tables t
            CROSS JOIN (VALUES ('created_at'), ('updated_at')) AS required(column_name)
            WHERE t.schemaname = 'public' AND t.tablename <> 'alembic_version'
              AND NOT EXISTS (
                SELECT 1 FROM information_schema.columns c
                WHERE c.table_schema = 'public' AND c.table_name = t.tablename
                  AND c.column_name = required.column_name
                  AND c.data_type = 'timestamp with time zone' AND c.is_nullable = 'NO'
                  AND c.column_default IS NOT NULL
              )
            ORDER BY 1, 2
            """,
        )
    )
    assert missing == [], f"tables without NOT NULL timestamptz audit columns: {missing}"


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
    migrations_database_url: str,
) -> None:
    revisions = [
        script.revision
        for script in reversed(
            list(
                ScriptDirectory.from_config(
                    alembic_config(migrations_database_url)
                ).walk_revisions()
            )
        )
    ]
    engine = create_async_engine(migrations_database_url)
    try:
        schemas: list[set[str]] = [await _tables(engine)]
        for revision in revisions:  # up, one step at a time, adding rows at each step
            await _alembic(migrations_database_url, "upgrade", revision)
            await _add_rows(engine)
            schemas.append(await _tables(engine))
        for step in range(len(revisions), 0, -1):  # down, one step at a time
            await _alembic(migrations_database_url, "downgrade", "-1")
            assert await _tables(engine) == schemas[step - 1], revisions[step - 1]
        await _alembic(migrations_database_url, "upgrade", "head")
        assert await _tables(engine) == schemas[-1]
    finally:
        await engine.dispose()
    assert "0002_posts" in revisions
    assert {"posts", "tags", "post_tags", "comments", "attachments"} <= schemas[-1]

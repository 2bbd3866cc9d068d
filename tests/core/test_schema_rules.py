"""Rules every table of the migrated schema follows, checked in PostgreSQL's catalogue (so a
migration that breaks one fails here, whichever domain it belongs to)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@pytest.mark.checklist("anti.db.fk-without-index", "db.indexes")
async def test_every_foreign_key_is_the_leading_column_of_an_index(session: AsyncSession) -> None:
    # Without one, deleting or updating a referenced row scans the referencing table, and a
    # join from the parent (an order's lines) can't use an index.
    unindexed = (
        (
            await session.execute(
                text(
                    """
                SELECT c.conrelid::regclass::text || '.' || c.conname
                FROM pg_constraint c
                WHERE c.contype = 'f' AND NOT EXISTS (
                    SELECT 1 FROM pg_index i
                    WHERE i.indrelid = c.conrelid
                      AND (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] = c.conkey
                )
                """
                )
            )
        )
        .scalars()
        .all()
    )
    assert unindexed == []


@pytest.mark.checklist("model.timestamps")
async def test_every_table_has_non_null_audit_timestamps(session: AsyncSession) -> None:
    missing = (
        (
            await session.execute(
                text(
                    """
                SELECT t.tablename FROM pg_tables t
                WHERE t.schemaname = 'public' AND t.tablename <> 'alembic_version'
                  AND (SELECT count(*) FROM information_schema.columns c
                       WHERE c.table_schema = 'public' AND c.table_name = t.tablename
                         AND c.column_name IN ('created_at', 'updated_at')
                         AND c.is_nullable = 'NO'
                         AND c.data_type = 'timestamp with time zone') < 2
                """
                )
            )
        )
        .scalars()
        .all()
    )
    assert missing == []

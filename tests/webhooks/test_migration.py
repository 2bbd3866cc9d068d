"""0004_webhooks goes down and up again on a database holding webhook data."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.devstack.migrate import alembic_config
from tests.conftest import ServiceUrls, admin_statement

WEBHOOK_TABLES = {"webhook_endpoints", "webhook_deliveries", "webhook_delivery_attempts"}


@pytest.fixture
async def scratch_url(services: ServiceUrls) -> AsyncIterator[str]:
    """An empty database of its own (the suite's database stays at head for everyone else)."""
    server = make_url(services.database_url).set(database="postgres")
    name = f"mig_{uuid.uuid4().hex[:10]}"
    server_url = server.render_as_string(hide_password=False)
    await admin_statement(server_url, f'CREATE DATABASE "{name}"')
    yield server.set(database=name).render_as_string(hide_password=False)
    await admin_statement(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return set(rows.scalars())
    finally:
        await engine.dispose()


async def _seed(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            user_id, endpoint_id, delivery_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, full_name, password_hash) "
                    "VALUES (:id, 'm@example.com', 'M', 'x')"
                ),
                {"id": user_id},
            )
            await connection.execute(
                text(
                    "INSERT INTO webhook_endpoints (id, owner_id, url, event_types, "
                    "secret_ciphertext) VALUES (:id, :owner, 'https://h.example/', "
                    "ARRAY['order.paid'], 'gAAAA')"
                ),
                {"id": endpoint_id, "owner": user_id},
            )
            await connection.execute(
                text(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, "
                    "payload, status, next_attempt_at) VALUES (:id, :endpoint, :event, "
                    "'order.paid', '{}', 'pending', now())"
                ),
                {"id": delivery_id, "endpoint": endpoint_id, "event": uuid.uuid4()},
            )
            await connection.execute(
                text(
                    "INSERT INTO webhook_delivery_attempts (id, delivery_id, number, "
                    "attempted_at, status_code, duration_ms) VALUES (:id, :delivery, 1, now(), "
                    "500, 12)"
                ),
                {"id": uuid.uuid4(), "delivery": delivery_id},
            )
    finally:
        await engine.dispose()


@pytest.mark.checklist("db.reversible-migrations", "anti.db.irreversible-migrations")
async def test_the_webhooks_migration_is_reversible_with_data_in_its_tables(
    scratch_url: str,
) -> None:
    config = alembic_config(scratch_url)
    # Alembic's env.py runs its own event loop: in a thread, away from the test's.
    await asyncio.to_thread(command.upgrade, config, "0004_webhooks")
    await _seed(scratch_url)
    await asyncio.to_thread(command.downgrade, config, "0003_orders")
    tables = await _tables(scratch_url)
    assert not tables & WEBHOOK_TABLES
    assert {"orders", "users", "outbox"} <= tables  # the revision below is untouched
    await asyncio.to_thread(command.upgrade, config, "0004_webhooks")
    assert await _tables(scratch_url) >= WEBHOOK_TABLES

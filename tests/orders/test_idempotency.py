"""`Idempotency-Key` on `POST /orders`, with real commits on separate connections."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import idempotency
from app.models import IdempotencyKey, Order
from tests.orders.factories import (
    ORDERS,
    PRODUCTS,
    committed_account,
    committed_session,
    create_product,
    post_order,
)

pytestmark = pytest.mark.checklist("integ.idempotency")


async def _orders(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Order)) or 0)


async def test_a_retry_with_the_same_key_replays_the_first_response_and_orders_once(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    customer = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        mug = await create_product(session, stock=5)
    first = await post_order(client, customer, [(mug, 2)], key="order-attempt-1")
    retry = await post_order(client, customer, [(mug, 2)], key="order-attempt-1")
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _orders(engine) == 1
    assert (await client.get(f"{PRODUCTS}/{mug.id}")).json()["stock"] == 3


async def test_the_same_key_with_a_different_body_is_422(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    customer = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        mug = await create_product(session, stock=5)
    assert (await post_order(client, customer, [(mug, 1)], key="k-1")).status_code == 201
    response = await post_order(client, customer, [(mug, 2)], key="k-1")
    assert response.status_code == 422
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert await _orders(engine) == 1


async def test_the_same_key_while_the_first_request_runs_is_409(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    customer = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        mug = await create_product(session, stock=5)
    # Hold the product's row lock so the first request stops halfway, holding its key.
    async with engine.connect() as blocker:
        transaction = await blocker.begin()
        await blocker.execute(
            text("SELECT 1 FROM products WHERE id = :id FOR UPDATE"), {"id": mug.id}
        )
        first = asyncio.create_task(post_order(client, customer, [(mug, 1)], key="slow"))
        await _wait_for_lock_waiter(engine)
        second = await post_order(client, customer, [(mug, 1)], key="slow")
        await transaction.rollback()
    assert second.status_code == 409
    assert second.json()["type"].endswith("/idempotency-key-in-flight")
    assert second.headers["retry-after"] == "1"
    assert (await first).status_code == 201
    assert await _orders(engine) == 1


async def _wait_for_lock_waiter(engine: AsyncEngine) -> None:
    for _ in range(100):
        async with engine.connect() as connection:
            # This run's database only: other test runs may share the server.
            waiting = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the first request never reached the product lock")


async def test_keys_are_scoped_to_the_caller(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice = await committed_account(committing_app)
    bob = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        mug = await create_product(session, stock=5)
    a = await post_order(client, alice, [(mug, 1)], key="same-key")
    b = await post_order(client, bob, [(mug, 1)], key="same-key")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers


async def test_a_failed_request_stores_nothing_so_its_key_can_be_retried(
    committing_app: FastAPI, client: httpx.AsyncClient
) -> None:
    customer = await committed_account(committing_app)
    admin = await committed_account(committing_app, roles=("admin",))
    async with committed_session(committing_app) as session:
        mug = await create_product(session, stock=1)
    assert (await post_order(client, customer, [(mug, 2)], key="k")).status_code == 409
    await client.patch(f"{PRODUCTS}/{mug.id}", headers=admin.headers, json={"stock": 5})
    retry = await post_order(client, customer, [(mug, 2)], key="k")
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers


async def test_expired_keys_are_forgotten_and_purged(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    customer = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        mug = await create_product(session, stock=5)
    first = await post_order(client, customer, [(mug, 1)], key="old")
    stored = await _expiry(engine)
    assert timedelta(hours=23, minutes=59) < stored - datetime.now(UTC) <= timedelta(hours=24)
    async with engine.begin() as connection:
        await connection.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    again = await post_order(client, customer, [(mug, 1)], key="old")
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]  # a new order, not a replay
    async with engine.begin() as connection:
        await connection.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    async with committed_session(committing_app) as session:
        assert await idempotency.purge_expired(session) == 1
        await session.commit()
    assert (await client.get(ORDERS, headers=customer.headers)).status_code == 200


async def _expiry(engine: AsyncEngine) -> datetime:
    async with engine.connect() as connection:
        expires_at: datetime = (
            await connection.execute(select(IdempotencyKey.expires_at))
        ).scalar_one()
    return expires_at

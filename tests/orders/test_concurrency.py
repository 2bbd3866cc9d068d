"""Stock under concurrency: real transactions on separate connections, racing."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import Product
from tests.orders.factories import committed_account, committed_session, create_product, post_order

pytestmark = pytest.mark.checklist("db.transactions", "anti.db.no-transactions")


async def _stocks(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(Product.sku, Product.stock))).all()
    return {sku: stock for sku, stock in rows}  # noqa: C416 - rows are Row objects


async def test_fifty_concurrent_orders_for_ten_units_sell_exactly_ten(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    customers = [await committed_account(committing_app) for _ in range(5)]
    async with committed_session(committing_app) as session:
        mug = await create_product(session, sku="LAST-TEN", stock=10)
    responses = await asyncio.gather(
        *(post_order(client, customers[i % 5], [(mug, 1)]) for i in range(50))
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 10, 409: 40}
    assert await _stocks(engine) == {"LAST-TEN": 0}


async def test_orders_locking_the_same_products_in_any_order_never_deadlock(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    customer = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        products = [await create_product(session, stock=100) for _ in range(3)]
    rng = random.Random(5)
    baskets = [rng.sample(products, k=3) for _ in range(30)]  # same products, shuffled lines
    responses = await asyncio.gather(
        *(post_order(client, customer, [(p, 1) for p in basket]) for basket in baskets)
    )
    assert [response.status_code for response in responses] == [201] * 30
    assert set((await _stocks(engine)).values()) == {70}

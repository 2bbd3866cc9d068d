"""Small keyword-only factories for the catalogue and orders."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Product
from app.orders import service
from tests.factories import Account, create_account

ORDERS = "/api/v1/orders"
PRODUCTS = "/api/v1/products"
_sequence = itertools.count(1)


async def create_product(
    session: AsyncSession,
    *,
    sku: str | None = None,
    name: str = "Blue mug",
    price_amount: int = 1250,
    currency: str = "EUR",
    stock: int = 10,
    is_active: bool = True,
) -> Product:
    """A product, committed (released to the app in the rolled-back tests, really committed in
    `committing_app` tests)."""
    product = await service.create_product(
        session,
        sku=sku or f"SKU-{next(_sequence):05d}",
        name=name,
        price_amount=price_amount,
        currency=currency,
        stock=stock,
        is_active=is_active,
    )
    await session.commit()
    return product


@asynccontextmanager
async def committed_session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session of the app's own sessionmaker: in `committing_app` tests, its commits are real
    and visible to the app's other connections."""
    async with app.state.sessionmaker() as session:
        yield session


async def committed_account(app: FastAPI, *, roles: tuple[str, ...] = ("member",)) -> Account:
    async with committed_session(app) as session:
        return await create_account(session, app, roles=roles)


def order_body(*lines: tuple[Product | uuid.UUID, int]) -> dict[str, object]:
    return {
        "items": [
            {
                "product_id": str(item.id if isinstance(item, Product) else item),
                "quantity": quantity,
            }
            for item, quantity in lines
        ]
    }


async def post_order(
    client: httpx.AsyncClient,
    account: Account,
    lines: Sequence[tuple[Product | uuid.UUID, int]],
    *,
    key: str | None = None,
) -> httpx.Response:
    """`POST /orders` with a fresh Idempotency-Key unless one is given."""
    headers = account.headers | {"Idempotency-Key": key or str(uuid.uuid4())}
    return await client.post(ORDERS, headers=headers, json=order_body(*lines))

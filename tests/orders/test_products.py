"""The catalogue: public, keyset paginated reads; writes for `products:write`."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Product
from tests.factories import Account, create_account
from tests.orders.factories import PRODUCTS, create_product


@pytest.fixture
async def admin(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(session, app, roles=("admin",))


def _product(**overrides: object) -> dict[str, object]:
    return {
        "sku": "MUG-RED",
        "name": "Red mug",
        "price_amount": 1299,
        "currency": "EUR",
        "stock": 5,
    } | overrides


@pytest.mark.checklist("api.pagination", "anti.api.no-pagination")
async def test_anyone_pages_through_active_products(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    active = [await create_product(session) for _ in range(5)]
    await create_product(session, is_active=False)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(PRODUCTS, params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(product.id) for product in active]


async def test_product_writers_also_see_inactive_products(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account
) -> None:
    hidden = await create_product(session, is_active=False)
    assert (await client.get(f"{PRODUCTS}/{hidden.id}")).status_code == 404
    response = await client.get(f"{PRODUCTS}/{hidden.id}", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["is_active"] is False


@pytest.mark.checklist("api.http-methods-status")
async def test_create_product_returns_201_with_location(
    client: httpx.AsyncClient, admin: Account
) -> None:
    response = await client.post(PRODUCTS, headers=admin.headers, json=_product())
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"{PRODUCTS}/{body['id']}"
    assert body | {"id": None, "created_at": None, "updated_at": None} == {
        **_product(),
        "is_active": True,
        "id": None,
        "created_at": None,
        "updated_at": None,
    }
    assert (await client.get(response.headers["location"])).json()["stock"] == 5


@pytest.mark.checklist("db.constraints")
async def test_duplicate_sku_is_409(client: httpx.AsyncClient, admin: Account) -> None:
    assert (await client.post(PRODUCTS, headers=admin.headers, json=_product())).status_code == 201
    response = await client.post(PRODUCTS, headers=admin.headers, json=_product(name="Other"))
    assert response.status_code == 409
    assert response.json()["type"].endswith("/sku-taken")


@pytest.mark.checklist("api.validation", "anti.sec.no-input-validation", "model.types")
@pytest.mark.parametrize(
    "overrides",
    [
        {"price_amount": "1299"},  # a string is not an integer amount
        {"price_amount": 12.99},  # money is never a float
        {"stock": True},  # nor a boolean
        {"stock": -1},
        {"currency": "eur"},
        {"sku": "mug red"},
        {"name": ""},
        {"colour": "red"},  # unknown fields are refused
    ],
)
async def test_invalid_products_are_422(
    client: httpx.AsyncClient, admin: Account, overrides: dict[str, object]
) -> None:
    response = await client.post(PRODUCTS, headers=admin.headers, json=_product(**overrides))
    assert response.status_code == 422


async def test_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account
) -> None:
    product = await create_product(session, stock=3, price_amount=500)
    response = await client.patch(
        f"{PRODUCTS}/{product.id}", headers=admin.headers, json={"stock": 7}
    )
    assert response.status_code == 200
    assert (response.json()["stock"], response.json()["price_amount"]) == (7, 500)
    for body in ({}, {"stock": None}, {"sku": "NEW-SKU"}):
        bad = await client.patch(f"{PRODUCTS}/{product.id}", headers=admin.headers, json=body)
        assert bad.status_code == 422, body


@pytest.mark.checklist("db.constraints", "model.validation")
async def test_the_database_refuses_negative_stock_whoever_writes_it(
    session: AsyncSession,
) -> None:
    product_id = (await create_product(session, stock=1)).id
    with pytest.raises(sa_exc.IntegrityError, match="ck_products_stock_not_negative"):
        await session.execute(update(Product).where(Product.id == product_id).values(stock=-1))
    await session.rollback()
    with pytest.raises(sa_exc.IntegrityError, match="ck_products_currency_iso4217"):
        await session.execute(
            text("UPDATE products SET currency = 'eur' WHERE id = :id"), {"id": product_id}
        )

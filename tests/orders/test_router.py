"""Placing, reading and cancelling orders through the API."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Order, OutboxEvent, Product
from tests.factories import Account, create_account
from tests.orders.factories import ORDERS, PRODUCTS, create_product, order_body, post_order


@pytest.fixture
async def customer(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(session, app)


async def _stock(client: httpx.AsyncClient, product: Product) -> int:
    stock: int = (await client.get(f"{PRODUCTS}/{product.id}")).json()["stock"]
    return stock


async def _count(session: AsyncSession, model: type[Order] | type[OutboxEvent]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.checklist("db.transactions", "anti.db.no-transactions", "api.http-methods-status")
async def test_placing_an_order_reserves_stock_and_records_the_event_in_one_transaction(
    client: httpx.AsyncClient, session: AsyncSession, customer: Account
) -> None:
    mug = await create_product(session, price_amount=1250, stock=5)
    plate = await create_product(session, price_amount=300, stock=2)
    response = await post_order(client, customer, [(mug, 2), (plate, 1)])
    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"] == f"{ORDERS}/{order['id']}"
    assert (order["status"], order["total_amount"], order["currency"]) == ("pending", 2800, "EUR")
    assert sorted((i["product_id"], i["quantity"]) for i in order["items"]) == sorted(
        [(str(mug.id), 2), (str(plate.id), 1)]
    )
    assert (await _stock(client, mug), await _stock(client, plate)) == (3, 1)
    events = (await session.scalars(select(OutboxEvent))).all()
    assert [(e.event_type, str(e.aggregate_id)) for e in events] == [("order.created", order["id"])]
    assert events[0].published_at is None
    assert events[0].payload["total_amount"] == 2800


@pytest.mark.checklist("db.transactions", "anti.db.no-transactions")
async def test_not_enough_stock_is_409_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, customer: Account
) -> None:
    plenty = await create_product(session, stock=10)
    scarce = await create_product(session, stock=1)
    response = await post_order(client, customer, [(plenty, 3), (scarce, 2)])
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/insufficient-stock")
    assert problem["products"] == [{"product_id": str(scarce.id), "available": 1}]
    # The first line's stock was fine, yet nothing was reserved: all or nothing.
    assert (await _stock(client, plenty), await _stock(client, scarce)) == (10, 1)
    assert await _count(session, Order) == 0
    assert await _count(session, OutboxEvent) == 0


async def test_line_prices_are_a_snapshot(
    client: httpx.AsyncClient, session: AsyncSession, customer: Account, app: FastAPI
) -> None:
    admin = await create_account(session, app, roles=("admin",))
    mug = await create_product(session, price_amount=1000)
    order = (await post_order(client, customer, [(mug, 1)])).json()
    await client.patch(f"{PRODUCTS}/{mug.id}", headers=admin.headers, json={"price_amount": 9})
    again = (await client.get(f"{ORDERS}/{order['id']}", headers=customer.headers)).json()
    assert (again["items"][0]["unit_price_amount"], again["total_amount"]) == (1000, 1000)


@pytest.mark.checklist("integ.idempotency", "api.http-methods-status")
async def test_an_order_without_idempotency_key_is_400(
    client: httpx.AsyncClient, session: AsyncSession, customer: Account
) -> None:
    mug = await create_product(session)
    for headers in (customer.headers, customer.headers | {"Idempotency-Key": "has space"}):
        response = await client.post(ORDERS, headers=headers, json=order_body((mug, 1)))
        assert response.status_code == 400
        assert response.json()["type"].endswith("/idempotency-key-required")
    assert await _stock(client, mug) == 10


@pytest.mark.checklist("api.validation", "anti.sec.no-input-validation", "model.types")
@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"product_id": "not-a-uuid", "quantity": 1}],
        [{"product_id": "{mug}", "quantity": 0}],
        [{"product_id": "{mug}", "quantity": "3"}],  # strict: a string is not a quantity
        [{"product_id": "{mug}", "quantity": True}],  # nor is a boolean
        [{"product_id": "{mug}", "quantity": 1.5}],
        [{"product_id": "{mug}", "quantity": 1}, {"product_id": "{mug}", "quantity": 1}],
    ],
)
async def test_malformed_orders_are_422(
    client: httpx.AsyncClient,
    session: AsyncSession,
    customer: Account,
    items: list[dict[str, object]],
) -> None:
    mug = await create_product(session)
    body = {"items": [{k: str(v).replace("{mug}", str(mug.id)) if k == "product_id" else v
                       for k, v in item.items()} for item in items]}  # fmt: skip
    headers = customer.headers | {"Idempotency-Key": str(uuid.uuid4())}
    response = await client.post(ORDERS, headers=headers, json=body)
    assert response.status_code == 422


async def test_unknown_inactive_or_mixed_currency_products_are_422(
    client: httpx.AsyncClient, session: AsyncSession, customer: Account
) -> None:
    euro = await create_product(session, currency="EUR")
    dollar = await create_product(session, currency="USD")
    retired = await create_product(session, is_active=False)
    for lines, problem in [
        ([(uuid.uuid4(), 1)], "unknown-products"),
        ([(retired, 1)], "unknown-products"),
        ([(euro, 1), (dollar, 1)], "mixed-currencies"),
    ]:
        response = await post_order(client, customer, lines)
        assert response.status_code == 422
        assert response.json()["type"].endswith(problem)


@pytest.mark.checklist("api.pagination", "anti.api.unvalidated-ids", "auth.consistent-authz")
async def test_customers_see_only_their_orders_and_order_readers_see_all(
    client: httpx.AsyncClient, session: AsyncSession, customer: Account, app: FastAPI
) -> None:
    other = await create_account(session, app)
    admin = await create_account(session, app, roles=("admin",))
    mug = await create_product(session, stock=20)
    mine = [(await post_order(client, customer, [(mug, 1)])).json()["id"] for _ in range(3)]
    theirs = (await post_order(client, other, [(mug, 1)])).json()["id"]

    first = (await client.get(ORDERS, headers=customer.headers, params={"limit": 2})).json()
    rest = await client.get(
        ORDERS, headers=customer.headers, params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert [o["id"] for o in first["items"] + rest.json()["items"]] == mine[::-1]
    assert rest.json()["next_cursor"] is None
    assert (await client.get(f"{ORDERS}/{theirs}", headers=customer.headers)).status_code == 404
    cancel = await client.post(f"{ORDERS}/{theirs}/cancel", headers=customer.headers)
    assert cancel.status_code == 404

    everyone = (await client.get(ORDERS, headers=admin.headers)).json()["items"]
    assert {o["id"] for o in everyone} == {*mine, theirs}
    assert (await client.get(f"{ORDERS}/{theirs}", headers=admin.headers)).status_code == 200


@pytest.mark.checklist("db.transactions")
async def test_cancelling_a_pending_order_returns_its_stock_once(
    client: httpx.AsyncClient, session: AsyncSession, customer: Account
) -> None:
    mug = await create_product(session, stock=4)
    order = (await post_order(client, customer, [(mug, 3)])).json()
    assert await _stock(client, mug) == 1
    response = await client.post(f"{ORDERS}/{order['id']}/cancel", headers=customer.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert await _stock(client, mug) == 4
    again = await client.post(f"{ORDERS}/{order['id']}/cancel", headers=customer.headers)
    assert again.status_code == 409
    assert await _stock(client, mug) == 4
    types = (await session.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.id))).all()
    assert types == ["order.created", "order.cancelled"]


@pytest.mark.checklist("db.no-n-plus-one", "anti.db.n-plus-one")
async def test_listing_orders_costs_the_same_queries_for_one_order_or_twenty(
    client: httpx.AsyncClient, session: AsyncSession, customer: Account, engine: AsyncEngine
) -> None:
    mug = await create_product(session, stock=100)
    plate = await create_product(session, stock=100)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    async def queries_to_list() -> int:
        statements.clear()
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            response = await client.get(ORDERS, headers=customer.headers, params={"limit": 50})
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        assert response.status_code == 200
        return len(statements)

    await post_order(client, customer, [(mug, 1), (plate, 1)])
    with_one = await queries_to_list()
    assert with_one >= 2  # the statements are really being counted
    for _ in range(19):
        await post_order(client, customer, [(mug, 1), (plate, 1)])
    assert await queries_to_list() == with_one  # the lines of all orders come in one query

"""`charge_payment` on a real Celery worker and the real Redis broker, against the simulator."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.metrics import TASK_RUNS
from app.integrations import tasks
from app.models import OutboxEvent, Payment
from tests.factories import Account
from tests.orders.factories import (
    PRODUCTS,
    committed_account,
    committed_session,
    create_product,
    post_order,
)
from tests.workers import Simulator, eventually, order_status


async def _place(
    app: FastAPI, client: httpx.AsyncClient, *, stock: int = 5
) -> tuple[Account, dict[str, Any], str]:
    customer = await committed_account(app)
    async with committed_session(app) as session:
        mug = await create_product(session, stock=stock, price_amount=1500)
    started = time.monotonic()
    response = await post_order(client, customer, [(mug, 2)])
    assert response.status_code == 201
    return customer, response.json() | {"elapsed": time.monotonic() - started}, str(mug.id)


async def _payment(engine: AsyncEngine, order_id: str) -> Payment:
    async with engine.connect() as connection:
        payment = await connection.execute(select(Payment).where(Payment.order_id == order_id))
        return payment.one()  # type: ignore[return-value]


async def _events(engine: AsyncEngine, order_id: str) -> list[tuple[str, bool]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(OutboxEvent.event_type, OutboxEvent.published_at.is_not(None))
            .where(OutboxEvent.aggregate_id == order_id)
            .order_by(OutboxEvent.id)
        )
    return [(event_type, published) for event_type, published in rows]


@pytest.mark.checklist(
    "integ.message-queues",
    "perf.background-jobs",
    "anti.perf.sync-external-calls",
    "anti.perf.no-background-jobs",
)
async def test_an_order_is_paid_in_the_background_after_the_response(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    simulator: Simulator,
    celery_worker: Any,
) -> None:
    simulator.configure(latency_ms=1500)  # a slow provider (within the read timeout)...
    customer, order, _ = await _place(committing_app, client)
    assert order["elapsed"] < 1.5  # ...is not waited for by the request
    assert order["status"] == "pending"

    async def paid() -> bool:
        return await order_status(client, customer.headers, order["id"]) == "paid"

    await eventually(paid, what="the order to be paid")
    assert simulator.sim.ledger.charges == {order["id"]: 1}
    payment = await _payment(engine, order["id"])
    assert (payment.status, payment.attempts, payment.amount) == ("succeeded", 1, 3000)
    assert payment.provider_reference is not None
    assert payment.provider_reference.startswith("ch_")

    async def paid_event_relayed() -> bool:
        # The worker's commit of order.paid nudged the relay, as the API's commit did.
        events = await _events(engine, order["id"])
        return events == [("order.created", True), ("order.paid", True)]

    await eventually(paid_event_relayed, within=5, what="order.paid to be relayed")
    runs = TASK_RUNS.labels(task="integrations.charge_payment", outcome="success")
    assert runs._value.get() >= 1  # every task's outcome is counted (worker/celery_app.py)


@pytest.mark.checklist("integ.resilient-calls", "integ.message-queues")
async def test_a_failing_provider_is_retried_with_backoff_until_it_recovers(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    simulator: Simulator,
    celery_worker: Any,
) -> None:
    simulator.configure(outage=True)
    customer, order, _ = await _place(committing_app, client)

    async def tried_twice() -> bool:
        return simulator.sim.ledger.calls[order["id"]] >= 4  # two task runs of two tries

    await eventually(tried_twice, what="the charge to be retried")
    assert await order_status(client, customer.headers, order["id"]) == "pending"
    simulator.configure(outage=False)

    async def paid() -> bool:
        return await order_status(client, customer.headers, order["id"]) == "paid"

    await eventually(paid, within=30, what="the order to be paid after the outage")
    assert simulator.sim.ledger.charges == {order["id"]: 1}
    assert (await _payment(engine, order["id"])).attempts >= 2


async def test_when_retries_run_out_the_order_fails_and_its_stock_returns(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    simulator: Simulator,
    celery_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks.charge_payment, "max_retries", 1)
    simulator.configure(outage=True)
    customer, order, product_id = await _place(committing_app, client, stock=5)

    async def failed() -> bool:
        return await order_status(client, customer.headers, order["id"]) == "failed"

    await eventually(failed, within=30, what="the order to fail")
    assert (await client.get(f"{PRODUCTS}/{product_id}")).json()["stock"] == 5
    payment = await _payment(engine, order["id"])
    assert (payment.status, payment.attempts, payment.last_error) == (
        "failed",
        2,
        "UpstreamUnavailable",
    )
    assert [event for event, _ in await _events(engine, order["id"])] == [
        "order.created",
        "order.failed",
    ]
    assert simulator.sim.ledger.charges == {}


async def test_a_declined_charge_fails_the_order_without_retrying(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    simulator: Simulator,
    celery_worker: Any,
) -> None:
    simulator.configure(decline=True)
    customer, order, product_id = await _place(committing_app, client, stock=5)

    async def failed() -> bool:
        return await order_status(client, customer.headers, order["id"]) == "failed"

    await eventually(failed, what="the declined order to fail")
    assert simulator.sim.ledger.calls[order["id"]] == 1
    assert (await client.get(f"{PRODUCTS}/{product_id}")).json()["stock"] == 5
    assert (await _payment(engine, order["id"])).last_error == "declined"


@pytest.mark.checklist("integ.circuit-breaker")
async def test_while_the_breaker_is_open_charges_are_deferred_not_sent(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    simulator: Simulator,
    worker_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    celery_worker: Any,
) -> None:
    from app.core.config import get_settings  # noqa: PLC0415

    monkeypatch.setenv("PAYMENTS_BREAKER_FAIL_MAX", "2")
    monkeypatch.setenv("PAYMENTS_BREAKER_RESET_SECONDS", "2")
    get_settings.cache_clear()
    simulator.configure(outage=True)
    customer, order, _ = await _place(committing_app, client)

    async def opened() -> bool:
        return simulator.sim.ledger.calls[order["id"]] >= 2

    await eventually(opened, what="the breaker to open")
    calls_when_opened = simulator.sim.ledger.calls[order["id"]]
    time.sleep(1.0)  # noqa: ASYNC251 - the worker thread runs meanwhile; nothing else here
    # Open: the task was deferred, not retried against the provider.
    assert simulator.sim.ledger.calls[order["id"]] == calls_when_opened
    simulator.configure(outage=False)

    async def paid() -> bool:
        return await order_status(client, customer.headers, order["id"]) == "paid"

    await eventually(paid, within=30, what="the trial call to pay the order")
    assert simulator.sim.ledger.charges == {order["id"]: 1}
    assert uuid.UUID(order["id"])


@pytest.mark.checklist("integ.circuit-breaker")
async def test_an_order_waiting_out_an_open_breaker_past_its_deadline_fails(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    celery_worker: Any,
) -> None:
    from app.core.config import get_settings  # noqa: PLC0415

    monkeypatch.setenv("PAYMENTS_BREAKER_FAIL_MAX", "1")
    monkeypatch.setenv("PAYMENTS_DEFER_DEADLINE_SECONDS", "1")
    get_settings.cache_clear()
    simulator.configure(outage=True)
    customer, order, product_id = await _place(committing_app, client, stock=5)

    async def failed() -> bool:
        return await order_status(client, customer.headers, order["id"]) == "failed"

    await eventually(failed, within=30, what="the deferred order to give up")
    # One call opened the breaker, one trial after its reset timeout opened it again; then the
    # deadline had passed, so the order was failed instead of deferred once more.
    assert simulator.sim.ledger.calls[order["id"]] == 2
    assert (await client.get(f"{PRODUCTS}/{product_id}")).json()["stock"] == 5


async def test_refused_credentials_are_retried_not_blamed_on_the_order(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    simulator: Simulator,
    celery_worker: Any,
) -> None:
    real_key = simulator.sim.api_key
    simulator.sim.api_key = "rotated-at-the-provider"  # our PAYMENTS_API_KEY is now wrong
    customer, order, _ = await _place(committing_app, client)

    async def refused() -> bool:
        return simulator.sim.ledger.calls[order["id"]] >= 1

    await eventually(refused, what="the provider to refuse our key")
    assert await order_status(client, customer.headers, order["id"]) == "pending"
    simulator.sim.api_key = real_key  # an operator fixes the key

    async def paid() -> bool:
        return await order_status(client, customer.headers, order["id"]) == "paid"

    await eventually(paid, within=30, what="the order to be paid with the fixed key")

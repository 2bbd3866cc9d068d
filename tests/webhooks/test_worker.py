"""Webhooks end to end: an order placed through the API, paid by the payment simulator, its
events relayed from the outbox to a real Celery worker on the real Redis broker (with a real
beat as the dispatcher's clock), delivered to a receiver on loopback."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from celery import Celery
from celery.signals import task_postrun
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from app.core import outbox
from app.models import OutboxEvent, WebhookDelivery
from app.webhooks.pipeline import UNSIGNABLE
from tests.factories import Account
from tests.orders.factories import committed_account, committed_session, create_product, post_order
from tests.webhooks.conftest import ENDPOINTS, Receiver, create_endpoint
from tests.workers import eventually

DELIVERIES = "/api/v1/webhooks/deliveries"


@pytest.fixture
def task_runs() -> Iterator[Counter[str]]:
    """How many times each task has finished in the in-process worker, from now on."""
    runs: Counter[str] = Counter()

    def count(task: Any = None, **_: Any) -> None:
        runs[task.name] += 1

    task_postrun.connect(count, weak=False)
    yield runs
    task_postrun.disconnect(count)


async def _place_paid_order(app: FastAPI, client: httpx.AsyncClient, customer: Account) -> str:
    async with committed_session(app) as session:
        mug = await create_product(session, stock=5, price_amount=1500)
    response = await post_order(client, customer, [(mug, 2)])
    assert response.status_code == 201
    order_id: str = response.json()["id"]
    return order_id


async def _deliveries(
    client: httpx.AsyncClient, customer: Account, endpoint_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", headers=customer.headers)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.checklist(
    "integ.webhook-retries",
    "integ.message-queues",
    "integ.idempotency",
    "auth.no-credential-logging",
    "anti.sec.credentials-in-logs",
)
async def test_a_receiver_failing_three_times_gets_the_event_once_signed_every_time(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    receiver: Receiver,
    webhook_worker: Celery,
    task_runs: Counter[str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    receiver.script(500, 503, 500, 200)
    customer = await committed_account(committing_app)
    endpoint = await create_endpoint(
        client, customer.headers, url=receiver.url, events=("order.paid",)
    )
    order_id = await _place_paid_order(committing_app, client, customer)

    async def delivered() -> bool:
        return bool(receiver.succeeded)

    await eventually(delivered, within=30, what="the order.paid webhook to be accepted")

    # Four requests, one message: the same id and body every time, each signed for its own
    # moment with the endpoint's secret, as the reference library verifies it.
    assert [request.answered for request in receiver.received] == [500, 503, 500, 200]
    assert len({request.body for request in receiver.received}) == 1
    assert len({request.headers["webhook-id"] for request in receiver.received}) == 1
    verifier = Webhook(endpoint["secret"])
    for request in receiver.received:
        message = verifier.verify(request.body, request.headers)
        assert message["type"] == "order.paid"
        assert message["data"]["order_id"] == order_id
        assert message["data"]["status"] == "paid"
    timestamps = [int(request.headers["webhook-timestamp"]) for request in receiver.received]
    assert timestamps == sorted(timestamps)

    async def recorded() -> bool:
        deliveries = await _deliveries(client, customer, endpoint["id"])
        return bool(deliveries) and deliveries[0]["status"] == "succeeded"

    await eventually(recorded, within=10, what="the success to be recorded")
    (delivery,) = await _deliveries(client, customer, endpoint["id"])
    assert delivery["event_id"] == receiver.received[0].headers["webhook-id"]
    assert delivery["attempt_count"] == 4
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 500, 200]
    assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3, 4]
    assert delivery["next_attempt_at"] is None

    # At least once on the way in, exactly once out: the outbox handing the event over again
    # and every attempt's message arriving again change nothing.
    async with engine.connect() as connection:
        event = (
            await connection.execute(
                select(OutboxEvent).where(
                    OutboxEvent.aggregate_id == order_id, OutboxEvent.event_type == "order.paid"
                )
            )
        ).one()
    task_runs.clear()
    webhook_worker.send_task("webhooks.fan_out", kwargs=outbox.task_kwargs(event))  # type: ignore[arg-type]
    for attempt in (1, 2, 3, 4, 5):
        webhook_worker.send_task(
            "webhooks.deliver", kwargs={"delivery_id": delivery["id"], "attempt": attempt}
        )

    async def duplicates_handled() -> bool:
        return task_runs["webhooks.fan_out"] >= 1 and task_runs["webhooks.deliver"] >= 5

    await eventually(duplicates_handled, within=15, what="the duplicates to be consumed")
    assert len(receiver.received) == 4
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(WebhookDelivery))
    assert count == 1

    # The worker logged every attempt, and never the secret or a signature.
    logged = "".join(capfd.readouterr())
    assert "webhook_attempt" in logged
    assert endpoint["secret"] not in logged
    assert endpoint["secret"].removeprefix("whsec_") not in logged
    for request in receiver.received:
        assert request.headers["webhook-signature"].split(",", 1)[1] not in logged


@pytest.mark.checklist("integ.webhook-retries", "integ.message-queues")
async def test_an_endpoint_that_keeps_failing_is_disabled_until_its_owner_enables_it(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    webhook_worker: Celery,
    task_runs: Counter[str],
) -> None:
    receiver.script(500)  # down, for good
    customer = await committed_account(committing_app)
    endpoint = await create_endpoint(
        client, customer.headers, url=receiver.url, events=("order.created",)
    )
    path = f"{ENDPOINTS}/{endpoint['id']}"
    for _ in range(2):  # WEBHOOKS_DISABLE_AFTER_FAILURES=2 in these tests
        await _place_paid_order(committing_app, client, customer)

    async def disabled() -> bool:
        return (await client.get(path, headers=customer.headers)).json()["enabled"] is False

    await eventually(disabled, within=30, what="the endpoint to be disabled")
    read = (await client.get(path, headers=customer.headers)).json()
    assert (read["disabled_reason"], read["consecutive_failures"]) == ("failing", 2)
    deliveries = await _deliveries(client, customer, endpoint["id"])
    assert [d["status"] for d in deliveries] == ["failed", "failed"]
    assert {d["failure_reason"] for d in deliveries} == {"retries_exhausted"}
    assert [d["attempt_count"] for d in deliveries] == [4, 4]  # the first try and 3 retries
    assert len(receiver.received) == 8

    # While disabled, new events are not delivered to it at all.
    task_runs.clear()
    await _place_paid_order(committing_app, client, customer)

    async def fanned_out() -> bool:
        return task_runs["webhooks.fan_out"] >= 2  # its order.created and order.paid

    await eventually(fanned_out, within=20, what="the third order's events to be fanned out")
    assert len(await _deliveries(client, customer, endpoint["id"])) == 2
    assert len(receiver.received) == 8

    # The owner fixes the receiver, enables the endpoint and has a failed delivery sent again.
    receiver.script(200)
    enabled = await client.post(f"{path}/enable", headers=customer.headers)
    assert (enabled.json()["enabled"], enabled.json()["consecutive_failures"]) == (True, 0)
    first = deliveries[-1]
    response = await client.post(f"{DELIVERIES}/{first['id']}/redeliver", headers=customer.headers)
    assert response.status_code == 202

    async def redelivered() -> bool:
        deliveries = await _deliveries(client, customer, endpoint["id"])
        return any(d["id"] == first["id"] and d["status"] == "succeeded" for d in deliveries)

    await eventually(redelivered, within=20, what="the redelivery to succeed")
    last = receiver.received[-1]
    assert last.answered == 200
    assert last.headers["webhook-id"] == first["event_id"]
    assert Webhook(endpoint["secret"]).verify(last.body, last.headers)["type"] == "order.created"
    assert len(receiver.received) == 9


@pytest.mark.parametrize(
    "webhook_env",
    [{"WEBHOOKS_ENCRYPTION_KEYS": "a-key-the-api-never-used-0123456789"}],
    indirect=True,
)
async def test_a_secret_no_configured_key_opens_is_never_sent_and_the_delivery_ends(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    webhook_worker: Celery,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The API encrypted the secret under a key the worker doesn't have (it was dropped before
    the re-encryption): nothing goes out, and the delivery fails at the end of its schedule
    instead of being retried forever."""
    customer = await committed_account(committing_app)
    endpoint = await create_endpoint(
        client, customer.headers, url=receiver.url, events=("order.created",)
    )
    await _place_paid_order(committing_app, client, customer)

    async def failed() -> bool:
        deliveries = await _deliveries(client, customer, endpoint["id"])
        return bool(deliveries) and deliveries[0]["status"] == "failed"

    await eventually(failed, within=30, what="the delivery to fail")
    (delivery,) = await _deliveries(client, customer, endpoint["id"])
    assert [a["error"] for a in delivery["attempts"]] == [UNSIGNABLE] * 4
    assert receiver.received == []
    assert "webhook_secret_unreadable" in "".join(capfd.readouterr())

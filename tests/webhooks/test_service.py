"""The delivery state machine, step by step: fan-out, claims, recorded attempts, the retry
schedule, disabling, and the dispatcher rescuing lost messages and dead workers.

The broker is a recorder here (what would have been published, and when); tests with a real
worker and broker are in test_worker.py.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from app.core import outbox
from app.core.db import commit
from app.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from app.orders import service as orders
from app.webhooks import pipeline, service
from app.webhooks.schemas import EventType
from app.webhooks.sender import AttemptResult
from app.webhooks.tools import WebhookTools
from tests.factories import create_account
from tests.webhooks.conftest import endpoint_row, tools_for

ORDER = {"order_id": str(uuid.uuid4()), "status": "paid", "total_amount": 3000, "currency": "EUR"}


class Broker:
    """Records the tasks that would have been published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, task_name: str, kwargs: Mapping[str, Any]) -> None:
        self.published.append((task_name, dict(kwargs)))


@pytest.fixture
def tools(app: FastAPI) -> WebhookTools:
    return tools_for(app)


async def _endpoint(
    session: AsyncSession,
    tools: WebhookTools,
    owner_id: uuid.UUID,
    events: tuple[str, ...] = ("order.paid",),
) -> tuple[WebhookEndpoint, str]:
    return await service.create_endpoint(
        session, tools, owner_id=owner_id, url="http://127.0.0.1:9/hooks", event_types=events
    )


async def _fan_out(
    session: AsyncSession, owner_id: uuid.UUID, broker: Broker, *, event_id: uuid.UUID | None = None
) -> int:
    return await pipeline.fan_out(
        session,
        broker,
        event_id=event_id or uuid.uuid4(),
        event_type="order.paid",
        occurred_at="2026-11-28T08:00:00+00:00",
        payload=ORDER | {"customer_id": str(owner_id)},
    )


async def _latest(session: AsyncSession, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """The endpoint's newest delivery, as the database has it now."""
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    assert delivery is not None
    return delivery


def test_webhooks_offer_every_order_event_and_subscribe_to_each() -> None:
    assert set(EventType.__args__) == set(orders.ORDER_EVENTS)  # type: ignore[attr-defined]
    import app.webhooks.tasks  # noqa: F401, PLC0415 - subscribing happens at import

    for event_type in orders.ORDER_EVENTS:
        assert "webhooks.fan_out" in outbox.subscribers(event_type)


@pytest.mark.checklist("integ.idempotency", "integ.message-queues")
async def test_fan_out_creates_one_delivery_per_subscribed_endpoint_once(
    session: AsyncSession, app: FastAPI, tools: WebhookTools
) -> None:
    customer = (await create_account(session, app)).user.id
    stranger = (await create_account(session, app)).user.id
    paid, _ = await _endpoint(session, tools, customer)
    both, _ = await _endpoint(session, tools, customer, ("order.created", "order.paid"))
    await _endpoint(session, tools, customer, ("order.cancelled",))  # another event
    disabled, _ = await _endpoint(session, tools, customer)
    disabled.disabled_at, disabled.disabled_reason = datetime.now(UTC), "failing"
    await _endpoint(session, tools, stranger)  # someone else's
    event_id = uuid.uuid4()
    broker = Broker()

    assert await _fan_out(session, customer, broker, event_id=event_id) == 2
    assert broker.published == []  # nothing is queued before the commit...
    await commit(session)
    deliveries = (
        await session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id))
    ).all()
    assert {d.endpoint_id for d in deliveries} == {paid.id, both.id}
    assert broker.published == [  # ...then each first attempt is
        ("webhooks.deliver", {"delivery_id": str(d.id), "attempt": 1}) for d in deliveries
    ]
    message = deliveries[0].payload
    assert message["type"] == "order.paid"
    assert message["data"]["customer_id"] == str(customer)

    # The outbox delivers at least once: the same event again creates and queues nothing.
    again = Broker()
    assert await _fan_out(session, customer, again, event_id=event_id) == 0
    await commit(session)
    assert again.published == []


@pytest.mark.checklist("integ.idempotency")
async def test_an_attempt_is_claimed_once_and_only_when_due(
    session: AsyncSession, app: FastAPI, tools: WebhookTools
) -> None:
    customer = (await create_account(session, app)).user.id
    endpoint, _ = await _endpoint(session, tools, customer)
    await _fan_out(session, customer, Broker())
    delivery = await _latest(session, endpoint)

    assert await pipeline.claim_attempt(session, tools, delivery_id=delivery.id, attempt=2) is None
    claim = await pipeline.claim_attempt(session, tools, delivery_id=delivery.id, attempt=1)
    assert claim is not None
    # A duplicate message for the same attempt (or a redelivered one) finds it claimed.
    assert await pipeline.claim_attempt(session, tools, delivery_id=delivery.id, attempt=1) is None
    delivery = await _latest(session, endpoint)
    assert delivery.next_attempt_at is not None
    lease_ends = delivery.next_attempt_at - datetime.now(UTC)
    assert tools.lease - timedelta(seconds=5) < lease_ends <= tools.lease

    body, headers = pipeline.signed_message(tools, claim, at=datetime.now(UTC))
    secret = tools.box.decrypt(claim.secret_ciphertext)
    assert Webhook(secret).verify(body, headers)["type"] == "order.paid"
    assert headers["webhook-id"] == str(delivery.event_id)


@pytest.mark.checklist("integ.webhook-retries")
async def test_failed_attempts_are_retried_on_the_schedule_until_it_runs_out(
    session: AsyncSession, app: FastAPI, tools: WebhookTools
) -> None:
    customer = (await create_account(session, app)).user.id
    endpoint, _ = await _endpoint(session, tools, customer)
    await _fan_out(session, customer, Broker())
    delivery = await _latest(session, endpoint)
    schedule = tools.settings.retry_schedule_seconds  # the default: about a day in all
    failures = [AttemptResult(503, 40), AttemptResult(None, 15000, error="timeout")]

    for attempt in range(1, len(schedule) + 2):
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id)
            .values(next_attempt_at=datetime.now(UTC))
        )
        claim = await pipeline.claim_attempt(
            session, tools, delivery_id=delivery.id, attempt=attempt
        )
        assert claim is not None
        before = datetime.now(UTC)
        outcome = await pipeline.record_attempt(
            session, tools, claim, failures[attempt % 2], attempted_at=before
        )
        delivery = await _latest(session, endpoint)
        if attempt <= len(schedule):
            assert outcome == "retrying"
            wait = schedule[attempt - 1]
            assert delivery.next_attempt_at is not None
            waited = (delivery.next_attempt_at - before).total_seconds()
            assert wait * 0.8 - 1 <= waited <= wait * 1.2 + 1  # jittered by up to 20%
        else:
            assert outcome == "failed"
    assert (delivery.status, delivery.failure_reason) == ("failed", "retries_exhausted")
    assert delivery.next_attempt_at is None
    assert delivery.attempt_count == len(schedule) + 1
    assert sum(schedule) > 20 * 3600  # hours of retries in total
    assert (await endpoint_row(session, endpoint.id)).consecutive_failures == 1


def test_a_retry_waits_at_least_as_long_as_the_receiver_asks_up_to_the_longest_wait() -> None:
    schedule = [5.0, 30.0, 3600.0]
    waits = [pipeline.retry_wait(schedule, 0).total_seconds() for _ in range(200)]
    assert 4 <= min(waits) < max(waits) <= 6  # jittered, not all equal
    assert 119 <= pipeline.retry_wait(schedule, 0, retry_after=120).total_seconds() <= 121
    assert pipeline.retry_wait(schedule, 0, retry_after=10**6).total_seconds() == 3600


async def _attempt(
    session: AsyncSession,
    tools: WebhookTools,
    endpoint: WebhookEndpoint,
    result: AttemptResult,
) -> str:
    delivery = await _latest(session, endpoint)
    claim = await pipeline.claim_attempt(
        session, tools, delivery_id=delivery.id, attempt=delivery.attempt_count + 1
    )
    assert claim is not None
    return await pipeline.record_attempt(
        session, tools, claim, result, attempted_at=datetime.now(UTC)
    )


@pytest.mark.checklist("integ.webhook-retries")
async def test_410_gone_fails_the_delivery_and_disables_the_endpoint_at_once(
    session: AsyncSession, app: FastAPI, tools: WebhookTools
) -> None:
    customer = (await create_account(session, app)).user.id
    endpoint, _ = await _endpoint(session, tools, customer)
    await _fan_out(session, customer, Broker())
    assert await _attempt(session, tools, endpoint, AttemptResult(410, 12)) == "failed"
    delivery = await _latest(session, endpoint)
    assert (delivery.status, delivery.failure_reason) == ("failed", "endpoint_gone")
    endpoint = await endpoint_row(session, endpoint.id)
    assert (endpoint.is_enabled, endpoint.disabled_reason) == (False, "gone")
    # Events after that are not even turned into deliveries.
    assert await _fan_out(session, customer, Broker()) == 0


@pytest.mark.checklist("integ.webhook-retries")
async def test_a_run_of_failed_deliveries_disables_the_endpoint_and_a_success_resets_it(
    session: AsyncSession, app: FastAPI, tools: WebhookTools
) -> None:
    # One retry per delivery, disabled at the second delivery in a row that fails for good.
    settings = {"retry_schedule_seconds": [1.0], "disable_after_failures": 2}
    tools = dataclasses.replace(tools, settings=tools.settings.model_copy(update=settings))
    customer = (await create_account(session, app)).user.id
    endpoint, _ = await _endpoint(session, tools, customer)

    async def deliver_one(*results: AttemptResult) -> None:
        await _fan_out(session, customer, Broker())
        for result in results:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.status == "pending")
                .values(next_attempt_at=datetime.now(UTC))
            )
            await _attempt(session, tools, endpoint, result)

    async def failures() -> int:
        return (await endpoint_row(session, endpoint.id)).consecutive_failures

    down = AttemptResult(500, 3)
    await deliver_one(down, down)  # failed for good: one
    assert await failures() == 1
    await deliver_one(down, AttemptResult(204, 3))  # retried, then delivered: the run ends
    assert await failures() == 0
    await deliver_one(down, down)
    assert (await endpoint_row(session, endpoint.id)).is_enabled
    await deliver_one(down, down)  # the second in a row
    endpoint = await endpoint_row(session, endpoint.id)
    assert (endpoint.is_enabled, endpoint.disabled_reason, endpoint.consecutive_failures) == (
        False,
        "failing",
        2,
    )


async def test_a_pending_delivery_of_a_disabled_endpoint_fails_without_a_request(
    session: AsyncSession, app: FastAPI, tools: WebhookTools
) -> None:
    customer = (await create_account(session, app)).user.id
    endpoint, _ = await _endpoint(session, tools, customer)
    await _fan_out(session, customer, Broker())
    endpoint.disabled_at, endpoint.disabled_reason = datetime.now(UTC), "failing"
    await session.flush()
    delivery = await _latest(session, endpoint)
    assert await pipeline.claim_attempt(session, tools, delivery_id=delivery.id, attempt=1) is None
    delivery = await _latest(session, endpoint)
    assert (delivery.status, delivery.failure_reason) == ("failed", "endpoint_disabled")
    assert delivery.attempt_count == 0


@pytest.mark.checklist("integ.message-queues", "integ.idempotency")
async def test_the_dispatcher_requeues_lost_messages_and_attempts_whose_worker_died(
    session: AsyncSession, app: FastAPI, tools: WebhookTools
) -> None:
    customer = (await create_account(session, app)).user.id
    endpoint, _ = await _endpoint(session, tools, customer)
    await _fan_out(session, customer, Broker())
    delivery = await _latest(session, endpoint)
    broker = Broker()
    redispatch_after = timedelta(seconds=300)

    async def dispatch() -> list[tuple[str, dict[str, Any]]]:
        broker.published.clear()
        await pipeline.dispatch_due(
            session, broker, redispatch_after=redispatch_after, batch_size=50
        )
        await commit(session)
        return list(broker.published)

    # Queued at fan-out a moment ago: not queued again while the message may be on its way...
    assert await dispatch() == []
    # ...but once it has been missing for longer than `redispatch_after`, it is.
    await session.execute(
        update(WebhookDelivery).values(dispatched_at=datetime.now(UTC) - redispatch_after)
    )
    assert await dispatch() == [
        ("webhooks.deliver", {"delivery_id": str(delivery.id), "attempt": 1})
    ]
    assert await dispatch() == []  # and marked: not twice

    # A worker claims attempt 1 and dies before recording it: when its lease has run out, the
    # attempt is due again and queued under the same number, and the next claim may make it.
    assert await pipeline.claim_attempt(session, tools, delivery_id=delivery.id, attempt=1)
    assert await dispatch() == []
    await session.execute(
        update(WebhookDelivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    assert await dispatch() == [
        ("webhooks.deliver", {"delivery_id": str(delivery.id), "attempt": 1})
    ]
    claim = await pipeline.claim_attempt(session, tools, delivery_id=delivery.id, attempt=1)
    assert claim is not None
    assert (
        await pipeline.record_attempt(
            session, tools, claim, AttemptResult(200, 5), attempted_at=datetime.now(UTC)
        )
        == "succeeded"
    )
    # The dead worker's result can't be recorded a second time.
    assert (
        await pipeline.record_attempt(
            session, tools, claim, AttemptResult(200, 5), attempted_at=datetime.now(UTC)
        )
        == "superseded"
    )
    attempts = await session.scalar(
        select(func.count())
        .select_from(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id == delivery.id)
    )
    assert attempts == 1


async def test_finished_deliveries_are_purged_after_the_retention(
    session: AsyncSession, app: FastAPI, tools: WebhookTools
) -> None:
    customer = (await create_account(session, app)).user.id
    await _endpoint(session, tools, customer)
    for _ in range(3):
        await _fan_out(session, customer, Broker())
    old, recent, pending = (
        await session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id))
    ).all()
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([old, recent]))
        .values(status="succeeded", next_attempt_at=None)
    )
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == old)
        .values(updated_at=datetime.now(UTC) - timedelta(days=31))
    )
    assert await pipeline.purge_deliveries(session, older_than=timedelta(days=30)) == 1
    left = set((await session.scalars(select(WebhookDelivery.id))).all())
    assert left == {recent, pending}

"""The payment provider's callback: Standard Webhooks signatures, idempotent by event id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.signatures import standard_webhook
from app.integrations import service as payments
from app.models import Order, Payment
from tests.factories import create_account
from tests.orders.factories import create_product, post_order

WEBHOOK = "/api/v1/integrations/payments/webhook"


def signed(
    settings: Settings,
    body: dict[str, object],
    *,
    event_id: str | None = None,
    at: datetime | None = None,
    secret: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The request the provider sends: body and Standard Webhooks headers."""
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    content = orjson.dumps(body).decode()
    signer = standard_webhook(secret or settings.payments.webhook_secret.get_secret_value())
    return content.encode(), {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer.sign(event_id, at, content),
    }


def _event(order_id: str, event_type: str = "payment.succeeded") -> dict[str, object]:
    return {
        "type": event_type,
        "data": {"id": "ch_123", "reference": order_id, "status": event_type.split(".")[1]},
    }


@pytest.fixture
async def pending_order(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> dict[str, object]:
    customer = await create_account(session, app)
    mug = await create_product(session, stock=3)
    order: dict[str, object] = (await post_order(client, customer, [(mug, 2)])).json()
    await payments.prepare_charge(session, uuid.UUID(str(order["id"])))  # the task's first step
    await session.commit()
    return order


async def _status(session: AsyncSession, order_id: object) -> tuple[str, str]:
    order_status = await session.scalar(select(Order.status).where(Order.id == order_id))
    payment_status = await session.scalar(
        select(Payment.status).where(Payment.order_id == order_id)
    )
    return str(order_status), str(payment_status)


@pytest.mark.checklist("integ.idempotency")
async def test_a_signed_callback_is_applied_once_by_event_id(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    pending_order: dict[str, object],
) -> None:
    body, headers = signed(settings, _event(str(pending_order["id"])), event_id="evt_1")
    first = await client.post(WEBHOOK, content=body, headers=headers)
    assert (first.status_code, first.json()) == (200, {"status": "processed"})
    assert await _status(session, pending_order["id"]) == ("paid", "succeeded")
    again = await client.post(WEBHOOK, content=body, headers=headers)  # the provider redelivers
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    failed_later = signed(settings, _event(str(pending_order["id"]), "payment.failed"))
    late = await client.post(WEBHOOK, content=failed_later[0], headers=failed_later[1])
    assert late.json() == {"status": "processed"}
    assert await _status(session, pending_order["id"]) == ("paid", "succeeded")  # decided


async def test_a_declined_payment_fails_the_order_and_returns_its_stock(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    pending_order: dict[str, object],
) -> None:
    body, headers = signed(settings, _event(str(pending_order["id"]), "payment.failed"))
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    assert await _status(session, pending_order["id"]) == ("failed", "failed")
    items = pending_order["items"]
    assert isinstance(items, list)
    product = (await client.get(f"/api/v1/products/{items[0]['product_id']}")).json()
    assert product["stock"] == 3


async def test_a_charge_reported_after_we_gave_up_is_recorded_and_flagged_for_refund(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    pending_order: dict[str, object],
    capfd: pytest.CaptureFixture[str],
) -> None:
    order_id = uuid.UUID(str(pending_order["id"]))
    assert await payments.fail_payment(session, order_id, reason="retries_exhausted")
    await session.commit()
    assert await _status(session, order_id) == ("failed", "failed")
    body, headers = signed(settings, _event(str(order_id)))  # the provider charged after all
    response = await client.post(WEBHOOK, content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"status": "processed"})
    # The money was taken: the payment says so, the order stays failed (its stock is already
    # back on sale), and an error names the order for a refund.
    assert await _status(session, order_id) == ("failed", "succeeded")
    assert "payment_for_closed_order" in capfd.readouterr().err


@pytest.mark.parametrize(
    "tamper",
    ["stale timestamp", "future timestamp", "wrong secret", "altered body", "no signature"],
)
async def test_forged_or_replayed_callbacks_are_401_and_change_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    pending_order: dict[str, object],
    tamper: str,
) -> None:
    event = _event(str(pending_order["id"]))
    at = {
        "stale timestamp": datetime.now(UTC) - timedelta(minutes=6),
        "future timestamp": datetime.now(UTC) + timedelta(minutes=6),
    }.get(tamper)
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=" if tamper == "wrong secret" else None
    body, headers = signed(settings, event, at=at, secret=secret)
    if tamper == "altered body":
        body = body.replace(b"succeeded", b"failed")
    if tamper == "no signature":
        del headers["webhook-signature"]
    response = await client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert await _status(session, pending_order["id"]) == ("pending", "pending")


async def test_unknown_event_types_are_acknowledged_and_unknown_payments_are_404(
    client: httpx.AsyncClient, settings: Settings, pending_order: dict[str, object]
) -> None:
    body, headers = signed(settings, _event(str(pending_order["id"]), "payment.refunded"))
    response = await client.post(WEBHOOK, content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    body, headers = signed(settings, _event(str(uuid.uuid4())))
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 404
    body, headers = signed(settings, {"type": "payment.succeeded"})
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 422

"""The receiver in docs/guides/webhooks.md, run as it is printed, against real deliveries."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookDelivery
from app.webhooks import pipeline, service
from app.webhooks.sender import WebhookSender
from app.webhooks.signing import new_secret, signature_headers
from tests.factories import create_account
from tests.loopback import serve
from tests.webhooks.conftest import tools_for

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "webhooks.md"


def _receiver_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    (source,) = [block for block in blocks if block.startswith("# receiver.py")]
    return source


async def test_the_guides_receiver_verifies_real_deliveries_and_handles_each_once(
    session: AsyncSession, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tools_for(app)
    owner = (await create_account(session, app)).user.id
    endpoint, secret = await service.create_endpoint(
        session, tools, owner_id=owner, url="http://127.0.0.1:9/", event_types=["order.paid"]
    )
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    receiver: dict[str, Any] = {}
    exec(compile(_receiver_source(), "receiver.py", "exec"), receiver)  # noqa: S102 - the guide's own code
    handled: list[tuple[str, str]] = []
    receiver["handle"] = lambda event_type, order: handled.append((event_type, order["order_id"]))
    sender = WebhookSender.from_settings(app.state.settings)
    order_id = str(uuid.uuid4())

    with serve(receiver["app"]) as url:
        endpoint.url = f"{url}/hooks/orders"
        await session.flush()
        await pipeline.fan_out(
            session,
            lambda *_: None,
            event_id=uuid.uuid4(),
            event_type="order.paid",
            occurred_at=datetime.now(UTC).isoformat(),
            payload={"order_id": order_id, "customer_id": str(owner), "status": "paid"},
        )
        delivery_id = await session.scalar(
            select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
        )
        assert delivery_id is not None
        claim = await pipeline.claim_attempt(session, tools, delivery_id=delivery_id, attempt=1)
        assert claim is not None

        async def send(headers_for: str | None = None) -> int:
            body, headers = pipeline.signed_message(tools, claim, at=datetime.now(UTC))
            if headers_for is not None:  # a forgery: signed with a secret that isn't the endpoint's
                headers = signature_headers(
                    headers_for, msg_id=claim.msg_id, body=body.decode(), at=datetime.now(UTC)
                )
            result = await sender.send(claim.url, body=body, headers=headers)
            assert result.status_code is not None
            return result.status_code

        assert await send() == 204
        assert await send() == 204  # a retry of the same message: accepted, not handled again
        assert await send(headers_for=new_secret()) == 400
    assert handled == [("order.paid", order_id)]

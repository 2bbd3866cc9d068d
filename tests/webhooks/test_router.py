"""The /webhooks API: registering endpoints (secret shown once, stored encrypted, URL checked),
listing, deleting, enabling, deliveries and redelivery, each user seeing only their own."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from app.models import WebhookDelivery
from app.webhooks import repository
from tests.factories import create_account
from tests.webhooks.conftest import (
    ENDPOINTS,
    add_delivery,
    create_endpoint,
    endpoint_row,
    tools_for,
)

DELIVERIES = "/api/v1/webhooks/deliveries"


@pytest.fixture
async def alice(session: AsyncSession, app: FastAPI) -> dict[str, str]:
    return (await create_account(session, app)).headers


@pytest.fixture
async def bob(session: AsyncSession, app: FastAPI) -> dict[str, str]:
    return (await create_account(session, app)).headers


@pytest.mark.checklist("api.http-methods-status", "api.rest-conventions")
async def test_an_endpoint_is_created_with_its_secret_shown_once_and_stored_encrypted(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession, alice: dict[str, str]
) -> None:
    response = await client.post(
        ENDPOINTS,
        headers=alice,
        json={
            "url": "http://127.0.0.1:8080/hooks",
            "events": ["order.paid", "order.failed"],
            "description": "fulfilment",
        },
    )
    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    # Standard Webhooks format: whsec_ + base64 of 32 random bytes.
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    assert Webhook(secret)  # the reference library accepts it as it is
    assert created["events"] == ["order.paid", "order.failed"]
    assert (created["enabled"], created["consecutive_failures"]) == (True, 0)
    assert response.headers["Location"] == f"{ENDPOINTS}/{created['id']}"

    # Never again: not when read, not when listed.
    read = (await client.get(response.headers["Location"], headers=alice)).json()
    listed = (await client.get(ENDPOINTS, headers=alice)).json()["items"]
    assert "secret" not in read
    assert [item["id"] for item in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert secret not in str(read) + str(listed)

    # At rest: the column holds a ciphertext that only the service's key opens.
    stored = (
        await session.execute(
            text("SELECT * FROM webhook_endpoints WHERE id = :id"), {"id": created["id"]}
        )
    ).one()
    raw_key = secret.removeprefix("whsec_")
    assert all(
        secret not in str(value)
        and raw_key not in str(value)
        and base64.b64decode(raw_key).hex() not in str(value)
        for value in stored
    )
    endpoint = await endpoint_row(session, created["id"])
    assert tools_for(app).box.decrypt(endpoint.secret_ciphertext) == secret


@pytest.mark.checklist("api.validation", "anti.sec.no-input-validation")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://127.0.0.1/hooks", "events": ["order.paid"]}, "body.url"),
        ({"url": "not a url", "events": ["order.paid"]}, "body.url"),
        ({"url": "http://127.0.0.1/" + "a" * 2048, "events": ["order.paid"]}, "body.url"),
        ({"url": "http://127.0.0.1/hooks", "events": []}, "body.events"),
        ({"url": "http://127.0.0.1/hooks", "events": ["order.shipped"]}, "body.events.0"),
        ({"url": "http://127.0.0.1/hooks", "events": ["order.paid", "order.paid"]}, "body.events"),
        ({"url": "http://127.0.0.1/hooks", "events": ["order.paid"], "secret": "x"}, "body.secret"),
    ],
)
async def test_a_malformed_endpoint_is_refused_field_by_field(
    client: httpx.AsyncClient, alice: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(ENDPOINTS, headers=alice, json=body)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]


@pytest.mark.checklist("anti.sec.no-input-validation")
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.5/hooks", "it is a private address"),
        ("http://169.254.169.254/latest/meta-data", "it is a link-local address"),
        ("http://[fd00::1]/hooks", "it is a private address"),
        ("http://user:password@127.0.0.1/hooks", "it must not contain credentials"),
        ("http://0.0.0.0:8000/hooks", "it is an unspecified address"),
    ],
)
async def test_urls_aimed_inside_the_network_are_refused_even_in_test(
    client: httpx.AsyncClient, session: AsyncSession, alice: dict[str, str], url: str, reason: str
) -> None:
    response = await client.post(
        ENDPOINTS, headers=alice, json={"url": url, "events": ["order.paid"]}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/webhook-url-refused")
    assert problem["detail"] == f"This URL can't receive webhooks: {reason}."
    assert (await session.scalar(text("SELECT count(*) FROM webhook_endpoints"))) == 0


@pytest.mark.checklist("anti.api.unvalidated-ids", "auth.consistent-authz")
async def test_another_users_endpoints_and_deliveries_do_not_exist_for_you(
    client: httpx.AsyncClient, session: AsyncSession, alice: dict[str, str], bob: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, alice)
    delivery = await add_delivery(session, endpoint["id"], status="failed")
    await session.commit()

    def routes(endpoint_id: object, delivery_id: object) -> list[tuple[str, str]]:
        return [
            ("GET", f"{ENDPOINTS}/{endpoint_id}"),
            ("DELETE", f"{ENDPOINTS}/{endpoint_id}"),
            ("POST", f"{ENDPOINTS}/{endpoint_id}/enable"),
            ("GET", f"{ENDPOINTS}/{endpoint_id}/deliveries"),
            ("POST", f"{DELIVERIES}/{delivery_id}/redeliver"),
        ]

    alices = routes(endpoint["id"], delivery.id)
    nobodys = routes(uuid.uuid4(), uuid.uuid4())
    for (method, path), (_, unknown_path) in zip(alices, nobodys, strict=True):
        response = await client.request(method, path, headers=bob)
        assert response.status_code == 404, (method, path)
        # Exactly the answer to an id that doesn't exist: nothing tells the two apart.
        unknown = await client.request(method, unknown_path, headers=alice)
        assert (unknown.status_code, unknown.json()["title"]) == (404, response.json()["title"])
    assert (await client.get(ENDPOINTS, headers=bob)).json()["items"] == []
    assert (await client.get(alices[0][1], headers=alice)).status_code == 200  # untouched
    assert (await client.get(f"{ENDPOINTS}/not-a-uuid", headers=alice)).status_code == 422


@pytest.mark.checklist("api.pagination", "anti.api.no-pagination")
async def test_endpoints_and_deliveries_are_listed_page_by_page(
    client: httpx.AsyncClient, session: AsyncSession, alice: dict[str, str]
) -> None:
    endpoints = [await create_endpoint(client, alice) for _ in range(3)]
    first = (await client.get(ENDPOINTS, headers=alice, params={"limit": 2})).json()
    second = (
        await client.get(
            ENDPOINTS, headers=alice, params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in endpoints]
    assert second["next_cursor"] is None

    busy, quiet = endpoints[0]["id"], endpoints[1]["id"]
    made = [await add_delivery(session, busy) for _ in range(5)]
    await session.commit()
    path = f"{ENDPOINTS}/{busy}/deliveries"
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(path, headers=alice, params=params)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # A cursor belongs to one endpoint's listing: it can't be replayed on another.
        other = await client.get(
            f"{ENDPOINTS}/{quiet}/deliveries", headers=alice, params={"cursor": cursor}
        )
        assert other.status_code == 422
    assert [d["id"] for d in seen] == [str(d.id) for d in reversed(made)]  # newest first
    assert seen[0]["attempts"] == []
    assert seen[0]["next_attempt_at"] is not None


async def test_deleting_an_endpoint_removes_it_with_its_deliveries(
    client: httpx.AsyncClient, session: AsyncSession, alice: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, alice)
    await add_delivery(session, endpoint["id"], status="succeeded")
    await session.commit()
    response = await client.delete(f"{ENDPOINTS}/{endpoint['id']}", headers=alice)
    assert response.status_code == 204
    assert (await client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=alice)).status_code == 404
    left = await session.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint["id"])
    )
    assert left is None


@pytest.mark.checklist("integ.webhook-retries")
async def test_a_disabled_endpoint_is_enabled_again_by_its_owner(
    client: httpx.AsyncClient, session: AsyncSession, alice: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, alice)
    endpoint_id = uuid.UUID(endpoint["id"])
    assert await repository.add_failure(session, endpoint_id) == 1
    assert await repository.add_failure(session, endpoint_id) == 2
    assert await repository.disable(session, endpoint_id, reason="failing")
    await session.commit()
    path = f"{ENDPOINTS}/{endpoint_id}"
    disabled = (await client.get(path, headers=alice)).json()
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "failing")
    assert disabled["consecutive_failures"] == 2

    enabled = await client.post(f"{path}/enable", headers=alice)
    assert enabled.status_code == 200
    body = enabled.json()
    assert (body["enabled"], body["disabled_at"], body["disabled_reason"]) == (True, None, None)
    assert body["consecutive_failures"] == 0
    assert (await client.post(f"{path}/enable", headers=alice)).json()["enabled"] is True


@pytest.mark.checklist("integ.webhook-retries", "api.http-methods-status")
async def test_a_finished_delivery_is_redelivered_with_a_fresh_schedule(
    client: httpx.AsyncClient, session: AsyncSession, alice: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, alice)
    failed = await add_delivery(session, endpoint["id"], status="failed")
    failed.retry_count = 3
    pending = await add_delivery(session, endpoint["id"])
    await session.commit()

    response = await client.post(f"{DELIVERIES}/{failed.id}/redeliver", headers=alice)
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["failure_reason"], body["attempt_count"]) == ("pending", None, 1)
    assert body["next_attempt_at"] is not None
    row = await session.get(WebhookDelivery, failed.id, populate_existing=True)
    assert row is not None
    assert (row.retry_count, row.dispatched_at is not None) == (0, True)

    # Still being delivered: nothing to redeliver yet.
    for delivery_id in (failed.id, pending.id):
        conflict = await client.post(f"{DELIVERIES}/{delivery_id}/redeliver", headers=alice)
        assert conflict.status_code == 409
        assert conflict.json()["type"].endswith("/webhook-delivery-in-progress")


async def test_a_delivery_of_a_disabled_endpoint_is_redelivered_only_once_it_is_enabled(
    client: httpx.AsyncClient, session: AsyncSession, alice: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, alice)
    delivery = await add_delivery(session, endpoint["id"], status="succeeded")
    await repository.disable(session, uuid.UUID(endpoint["id"]), reason="gone")
    await session.commit()
    path = f"{DELIVERIES}/{delivery.id}/redeliver"
    refused = await client.post(path, headers=alice)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/webhook-endpoint-disabled")
    await client.post(f"{ENDPOINTS}/{endpoint['id']}/enable", headers=alice)
    assert (await client.post(path, headers=alice)).status_code == 202

"""What a production service accepts as a webhook URL, and the per-user endpoint limit.

Names resolve through a zone standing in for DNS (no network DNS in CI), except `localhost`,
which goes through the system resolver.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import (
    AuthSettings,
    Environment,
    PaymentsSettings,
    Settings,
    WebhooksSettings,
)
from app.main import create_app
from app.webhooks.dependencies import get_webhook_tools
from app.webhooks.tools import WebhookTools
from tests.conftest import ServiceUrls, make_settings, reads_of
from tests.factories import create_account
from tests.orders.factories import committed_account
from tests.webhooks.conftest import ENDPOINTS

STRONG = "s" * 48
PUBLIC = "93.184.216.34"
ZONE = {
    "hooks.example": [PUBLIC],
    "internal.example": ["10.20.30.40"],
    "metadata.example": ["169.254.169.254"],
    "split.example": [PUBLIC, "192.168.0.10"],  # one bad answer is enough to refuse
}


async def zone(host: str, port: int) -> Sequence[str]:
    if host == "localhost":
        return [str(info[4][0]) for info in socket.getaddrinfo(host, port)]
    if host not in ZONE:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ZONE[host]


@pytest.fixture
async def prod_app(
    services: ServiceUrls, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    """The app as production runs it (APP_ENV=prod, real secrets), in the test's transaction."""
    settings = make_settings(
        services,
        app_env=Environment.PROD,
        secret_key=SecretStr(STRONG),
        auth=AuthSettings(
            jwt_keys={"k1": SecretStr(STRONG)},
            jwt_active_kid="k1",
            api_key_pepper=SecretStr(STRONG),
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            argon2_parallelism=1,
        ),
        payments=PaymentsSettings(
            base_url="https://api.payments.example",
            api_key=SecretStr(STRONG),
            webhook_secret=SecretStr(STRONG),
        ),
        webhooks=WebhooksSettings(encryption_keys=[SecretStr(STRONG)]),
    )
    app = create_app(settings)
    app.dependency_overrides[get_webhook_tools] = lambda: WebhookTools.from_settings(
        settings, resolve=zone
    )
    async with LifespanManager(app):
        app.state.sessionmaker = sessionmaker
        app.state.read_sessionmaker = reads_of(sessionmaker)
        yield app


@pytest.mark.checklist("anti.sec.no-input-validation")
@pytest.mark.parametrize(
    ("url", "status", "reason"),
    [
        ("https://hooks.example/orders", 201, None),
        ("http://hooks.example/orders", 422, "the scheme must be https"),
        ("https://127.0.0.1:8443/hooks", 422, "it is a loopback address"),
        ("https://localhost/hooks", 422, "'localhost' resolves to a loopback address"),
        ("https://internal.example/hooks", 422, "'internal.example' resolves to a private address"),
        ("https://metadata.example/", 422, "'metadata.example' resolves to a link-local address"),
        ("https://split.example/hooks", 422, "'split.example' resolves to a private address"),
        ("https://nowhere.example/hooks", 422, "its host 'nowhere.example' does not resolve"),
    ],
)
async def test_production_accepts_only_https_urls_of_public_hosts(
    prod_app: FastAPI, session: AsyncSession, url: str, status: int, reason: str | None
) -> None:
    account = await create_account(session, prod_app)
    transport = httpx.ASGITransport(app=prod_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example") as client:
        response = await client.post(
            ENDPOINTS, headers=account.headers, json={"url": url, "events": ["order.paid"]}
        )
    assert response.status_code == status, response.text
    if reason is not None:
        assert response.json()["detail"] == f"This URL can't receive webhooks: {reason}."


@pytest.fixture
def settings(services: ServiceUrls) -> Settings:
    return make_settings(services, webhooks=WebhooksSettings(max_endpoints_per_owner=2))


async def test_a_user_has_at_most_the_configured_number_of_endpoints(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    headers = (await create_account(session, app)).headers
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["order.paid"]}
    assert [
        (await client.post(ENDPOINTS, headers=headers, json=body)).status_code for _ in range(3)
    ] == [
        201,
        201,
        409,
    ]
    other = (await create_account(session, app)).headers
    assert (await client.post(ENDPOINTS, headers=other, json=body)).status_code == 201


@pytest.mark.checklist("db.transactions")
async def test_concurrent_registrations_never_exceed_the_limit(
    committing_app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = (await committed_account(committing_app)).headers
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["order.paid"]}
    responses = await asyncio.gather(
        *(client.post(ENDPOINTS, headers=headers, json=body) for _ in range(6))
    )
    assert sorted(response.status_code for response in responses) == [201, 201, 409, 409, 409, 409]
    listed = (await client.get(ENDPOINTS, headers=headers)).json()["items"]
    assert len(listed) == 2

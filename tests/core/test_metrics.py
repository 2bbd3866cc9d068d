from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Environment
from tests.conftest import AppClient, prod_secrets

STRONG = "s" * 40


@pytest.mark.checklist("perf.db-pooling")
async def test_metrics_count_requests_by_route_template_and_expose_the_pool(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/api/v1/users/me")
    await client.get("/api/v1/users/01900000-0000-7000-8000-000000000000")
    await client.get("/no/such/path/12345")
    body = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/api/v1/users/me",status="401"}' in body
    assert 'route="/api/v1/users/{user_id}"' in body
    assert "/no/such/path/12345" not in body  # raw paths never become labels
    assert 'route="unmatched"' in body
    assert 'db_pool_connections{state="size"}' in body
    assert "http_request_duration_seconds_bucket" in body
    assert "db_statements_total" in body


async def test_metrics_are_not_public_in_prod(client_for: AppClient) -> None:
    prod = {**prod_secrets(), "metrics_token": SecretStr("scrape-token-" + STRONG)}
    async with client_for(**prod) as client:
        assert (await client.get("/metrics")).status_code == 404
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 404
        scraped = await client.get(
            "/metrics", headers={"Authorization": f"Bearer scrape-token-{STRONG}"}
        )
        assert scraped.status_code == 200


async def test_profiler_returns_a_call_tree_in_dev_only(client_for: AppClient) -> None:
    async with client_for(app_env=Environment.DEV) as client:
        profiled = await client.get("/health/ready", params={"profile": "1"})
    assert profiled.status_code == 200
    assert profiled.headers["content-type"].startswith("text/html")
    assert "pyinstrument" in profiled.text.lower()
    async with client_for() as client:  # APP_ENV=test: off
        plain = await client.get("/health/ready", params={"profile": "1"})
    assert plain.headers["content-type"] == "application/json"

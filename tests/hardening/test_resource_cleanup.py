"""After a burst of mixed traffic (successes, client errors, a failing handler), every pooled
connection is back, no file handle leaked, and no session sits idle in a transaction."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import httpx
import psutil
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import DEFAULT_PASSWORD
from tests.orders.factories import committed_account, committed_session, create_product

BURST = 1000
CONCURRENCY = 20

pytestmark = pytest.mark.checklist("perf.resource-cleanup", "db.pooling")


async def test_a_burst_of_mixed_requests_leaves_nothing_open(
    committing_app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    member = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        product = await create_product(session, stock=10_000)
    headers = member.headers
    token_form = {"username": member.email, "password": DEFAULT_PASSWORD}
    post = await client.post(
        "/api/v1/posts",
        headers=headers,
        json={"title": "Burst", "body": "b", "status": "published"},
    )
    post_id = post.json()["id"]
    requests = itertools.cycle(
        [
            ("GET", "/api/v1/posts?limit=20", {}),
            ("GET", f"/api/v1/posts/{post_id}", {}),
            ("GET", "/api/v1/tags", {}),
            ("GET", "/api/v1/users/me", {"headers": headers}),
            ("GET", "/api/v1/orders", {"headers": headers}),
            ("GET", "/api/v1/products", {}),
            ("GET", f"/api/v1/posts/{uuid.uuid4()}", {}),  # 404
            ("GET", "/api/v1/posts?cursor=garbage", {}),  # 422
            ("POST", "/api/v1/posts", {"headers": headers, "json": {"title": ""}}),  # 422
            ("GET", "/api/v1/users/me", {"headers": {"Authorization": "Bearer nope"}}),  # 401
            ("POST", "/api/v1/auth/token", {"data": token_form}),
            (
                "POST",
                "/api/v1/orders",
                {
                    "headers": headers | {"Idempotency-Key": "burst"},
                    "json": {"items": [{"product_id": str(product.id), "quantity": 1}]},
                },
            ),
        ]
    )
    slots = asyncio.Semaphore(CONCURRENCY)

    async def send(method: str, url: str, kwargs: dict[str, object]) -> int:
        async with slots:
            return (await client.request(method, url, **kwargs)).status_code  # type: ignore[arg-type]

    async def burst(size: int) -> list[int]:
        return await asyncio.gather(*(send(*r) for r in itertools.islice(requests, size)))

    # The committing app writes through the test's engine and reads through its own.
    engines = [engine, committing_app.state.engine, committing_app.state.read_engine]
    pools = [each.pool for each in engines]
    process = psutil.Process()

    def files_not_kept_by_a_pool() -> int:
        # A pool keeps the connections it has opened, up to its size, and may still grow to
        # its working size during the burst; that is not a leak. Everything else is.
        return process.num_fds() - sum(pool.checkedin() for pool in pools)

    await burst(200)
    files_before = files_not_kept_by_a_pool()
    statuses = await burst(BURST)
    assert len(statuses) == BURST
    assert max(statuses) < 500, sorted(set(statuses))

    for app_engine in (committing_app.state.engine, committing_app.state.read_engine):
        assert app_engine.pool.checkedout() == 0
    assert files_not_kept_by_a_pool() - files_before <= 2  # no socket or file left behind
    async with engine.connect() as connection:
        idle = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )
    assert idle == 0

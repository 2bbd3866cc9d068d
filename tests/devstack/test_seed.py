from __future__ import annotations

import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.devstack.seed import DEMO_PRODUCTS, seed
from tests.conftest import ServiceUrls, make_settings
from tests.factories import sign_in


async def test_seed_is_idempotent_and_its_accounts_can_sign_in(
    services: ServiceUrls, committing_app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = make_settings(
        services, data_dir=tmp_path, admin_password=SecretStr("seeded-admin-pw")
    )
    first = await seed(settings)
    second = await seed(settings)
    assert any("created demo accounts" in line for line in first)
    assert any("placed demo order" in line for line in first)
    assert not any("created demo accounts" in line for line in second)
    assert not any("placed demo order" in line for line in second)
    for email in ("admin@example.com", "member@example.com", "moderator@example.com"):
        assert (await sign_in(client, email, "seeded-admin-pw")).status_code == 200
    catalogue = (await client.get("/api/v1/products")).json()["items"]
    assert sorted(product["sku"] for product in catalogue) == sorted(
        sku for sku, *_ in DEMO_PRODUCTS
    )
    token = (await sign_in(client, "member@example.com", "seeded-admin-pw")).json()
    member = {"Authorization": f"Bearer {token['access_token']}"}
    demo_orders = (await client.get("/api/v1/orders", headers=member)).json()["items"]
    assert [order["status"] for order in demo_orders] == ["pending"]


async def test_seed_creates_a_realistic_browsable_blog_once(
    services: ServiceUrls,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    settings = make_settings(
        services, data_dir=tmp_path, admin_password=SecretStr("seeded-admin-pw")
    )
    started = time.monotonic()
    first = await seed(settings)
    seconds = time.monotonic() - started
    second = await seed(settings)
    assert any("demo posts" in line for line in first), first
    assert not any("demo posts" in line for line in second)
    assert seconds < 10  # bulk inserts, not hundreds of round trips
    async with engine.connect() as connection:
        counts = (
            await connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'published') AS published, "
                    "count(*) FILTER (WHERE status = 'draft') AS drafts, "
                    "count(DISTINCT author_id) AS authors, "
                    "(SELECT count(*) FROM tags) AS tags, "
                    "(SELECT count(*) FROM comments) AS comments, "
                    "sum(comment_count) AS counted, "
                    "count(*) FILTER (WHERE comment_count <> (SELECT count(*) FROM comments c "
                    "WHERE c.post_id = posts.id)) AS miscounted "
                    "FROM posts"
                )
            )
        ).one()
    assert counts.published >= 200
    assert counts.drafts > 0
    assert counts.authors == 3
    assert counts.tags >= 10
    assert counts.comments == counts.counted > 500
    assert counts.miscounted == 0
    feed = (await client.get("/api/v1/posts", params={"limit": 100})).json()
    assert len(feed["items"]) == 100
    assert feed["next_cursor"] is not None
    assert (await client.get("/api/v1/posts", params={"q": "index"})).json()["items"]
    assert (await client.get("/api/v1/tags")).json()[0]["post_count"] > 20

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

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

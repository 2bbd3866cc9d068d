"""Profiles and user administration."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Account, create_account

USERS = "/api/v1/users"


@pytest.fixture
async def admin(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(session, app, roles=("admin",))


@pytest.fixture
async def member(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(session, app)


async def test_me_shows_the_profile_without_secrets(
    client: httpx.AsyncClient, member: Account
) -> None:
    response = await client.get(f"{USERS}/me", headers=member.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == member.email
    assert body["roles"] == ["member"]
    assert set(body) == {
        "id",
        "email",
        "full_name",
        "is_active",
        "roles",
        "created_at",
        "updated_at",
    }


@pytest.mark.checklist("model.timestamps")
async def test_profile_update_changes_updated_at(
    client: httpx.AsyncClient, member: Account
) -> None:
    before = (await client.get(f"{USERS}/me", headers=member.headers)).json()
    response = await client.patch(
        f"{USERS}/me", headers=member.headers, json={"full_name": "  Grace  "}
    )
    assert response.status_code == 200
    after = response.json()
    assert after["full_name"] == "Grace"
    assert after["created_at"] == before["created_at"]
    assert after["updated_at"] >= before["updated_at"]


@pytest.mark.checklist("api.pagination")
async def test_admin_lists_users_page_by_page(
    client: httpx.AsyncClient, admin: Account, session: AsyncSession, app: FastAPI
) -> None:
    for _ in range(4):
        await create_account(session, app)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(USERS, headers=admin.headers, params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert len(set(seen)) == 5
    assert seen == sorted(seen)  # UUIDv7: creation order


@pytest.mark.checklist("api.pagination", "api.validation")
@pytest.mark.parametrize(
    "params", [{"limit": 101}, {"limit": 0}, {"cursor": "garbage"}, {"cursor": "e30.AAAA"}]
)
async def test_bad_page_parameters_are_422(
    client: httpx.AsyncClient, admin: Account, params: dict[str, object]
) -> None:
    response = await client.get(USERS, headers=admin.headers, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.checklist("auth.rbac")
async def test_admin_grants_moderator_and_the_new_permission_applies_at_once(
    client: httpx.AsyncClient, admin: Account, member: Account
) -> None:
    response = await client.put(
        f"{USERS}/{member.user.id}/roles",
        headers=admin.headers,
        json={"roles": ["member", "moderator"]},
    )
    assert response.status_code == 200
    assert response.json()["roles"] == ["member", "moderator"]
    me = await client.get(f"{USERS}/me", headers=member.headers)
    assert me.json()["roles"] == ["member", "moderator"]


async def test_unknown_role_is_422(
    client: httpx.AsyncClient, admin: Account, member: Account
) -> None:
    response = await client.put(
        f"{USERS}/{member.user.id}/roles", headers=admin.headers, json={"roles": ["overlord"]}
    )
    assert response.status_code == 422


async def test_an_admin_cannot_drop_their_own_admin_role(
    client: httpx.AsyncClient, admin: Account
) -> None:
    response = await client.put(
        f"{USERS}/{admin.user.id}/roles", headers=admin.headers, json={"roles": ["member"]}
    )
    assert response.status_code == 409


@pytest.mark.checklist("auth.token-security", "auth.consistent-authz")
async def test_deactivation_stops_tokens_and_keys_at_once(
    client: httpx.AsyncClient, admin: Account, member: Account
) -> None:
    key = (
        await client.post(
            "/api/v1/api-keys",
            headers=member.headers,
            json={"name": "k", "scopes": ["posts:create"]},
        )
    ).json()["key"]
    response = await client.patch(
        f"{USERS}/{member.user.id}", headers=admin.headers, json={"is_active": False}
    )
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert (await client.get(f"{USERS}/me", headers=member.headers)).status_code == 401
    assert (await client.get(f"{USERS}/me", headers={"X-API-Key": key})).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": member.refresh_token}
    )
    assert refresh.status_code == 401


@pytest.mark.checklist("api.validation")
async def test_is_active_must_be_a_real_boolean(
    client: httpx.AsyncClient, admin: Account, member: Account
) -> None:
    response = await client.patch(
        f"{USERS}/{member.user.id}", headers=admin.headers, json={"is_active": "no"}
    )
    assert response.status_code == 422


@pytest.mark.checklist("anti.api.unvalidated-ids")
async def test_malformed_and_unknown_user_ids(client: httpx.AsyncClient, admin: Account) -> None:
    assert (await client.get(f"{USERS}/not-a-uuid", headers=admin.headers)).status_code == 422
    unknown = await client.get(
        f"{USERS}/01900000-0000-7000-8000-000000000000", headers=admin.headers
    )
    assert unknown.status_code == 404

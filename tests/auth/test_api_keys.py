"""API keys: shown once, stored as a keyed hash, scoped, rotatable with a grace period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import AuthTools
from app.models import ApiKey, User
from tests.factories import Account, create_account

KEYS = "/api/v1/api-keys"
ME = "/api/v1/users/me"

pytestmark = pytest.mark.checklist("auth.rotatable-api-keys")


@pytest.fixture
async def account(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(session, app)


async def _create(
    client: httpx.AsyncClient, account: Account, scopes: list[str] | None = None, **extra: object
) -> dict[str, object]:
    response = await client.post(
        KEYS,
        headers=account.headers,
        json={"name": "ci", "scopes": scopes or ["posts:create", "api_keys:manage"], **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _key_header(key: object) -> dict[str, str]:
    return {"X-API-Key": str(key)}


async def test_key_is_shown_once_and_stored_only_as_a_keyed_hash(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    created = await _create(client, account)
    key = str(created["key"])
    assert key.startswith(f"rb_{created['prefix']}_")
    listed = (await client.get(KEYS, headers=account.headers)).json()
    assert [item["id"] for item in listed] == [created["id"]]
    assert "key" not in listed[0]
    assert key not in str(listed)
    stored = await session.scalar(select(ApiKey.key_hash).where(ApiKey.prefix == created["prefix"]))
    assert stored is not None
    assert key not in stored
    assert len(stored) == 64


async def test_a_key_authenticates_requests_and_records_its_use_at_most_once_a_minute(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    created = await _create(client, account)
    me = await client.get(ME, headers=_key_header(created["key"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(account.user.id)
    first_use = await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == created["id"]))
    assert first_use is not None
    await client.get(ME, headers=_key_header(created["key"]))
    second_use = await session.scalar(
        select(ApiKey.last_used_at)
        .where(ApiKey.id == created["id"])
        .execution_options(populate_existing=True)
    )
    assert second_use == first_use


@pytest.mark.checklist("auth.rbac")
async def test_effective_permissions_are_owner_permissions_intersected_with_scopes(
    client: httpx.AsyncClient, account: Account
) -> None:
    narrow = await _create(client, account, scopes=["posts:create"])
    # api_keys:manage is the owner's, but not this key's: the key can't list keys.
    assert (await client.get(KEYS, headers=_key_header(narrow["key"]))).status_code == 403


async def test_scopes_the_owner_does_not_hold_are_refused(
    client: httpx.AsyncClient, account: Account
) -> None:
    response = await client.post(
        KEYS, headers=account.headers, json={"name": "x", "scopes": ["users:admin"]}
    )
    assert response.status_code == 422
    assert "users:admin" in response.json()["detail"]


async def test_rotation_issues_a_new_key_and_keeps_the_old_one_for_the_grace_period(
    client: httpx.AsyncClient, account: Account
) -> None:
    old = await _create(client, account)
    rotated = await client.post(f"{KEYS}/{old['id']}/rotate", headers=account.headers)
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["key"] != old["key"]
    assert new["scopes"] == old["scopes"]
    assert (await client.get(ME, headers=_key_header(new["key"]))).status_code == 200
    assert (await client.get(ME, headers=_key_header(old["key"]))).status_code == 200
    listed = {item["id"]: item for item in (await client.get(KEYS, headers=account.headers)).json()}
    grace_end = datetime.fromisoformat(listed[old["id"]]["expires_at"])
    assert timedelta(hours=23) < grace_end - datetime.now(UTC) <= timedelta(hours=24)
    assert listed[old["id"]]["replaced_by_id"] == new["id"]
    again = await client.post(f"{KEYS}/{old['id']}/rotate", headers=account.headers)
    assert again.status_code == 409


async def test_the_old_key_fails_once_the_grace_period_is_over(
    client: httpx.AsyncClient, account: Account, app: FastAPI
) -> None:
    settings = app.state.auth.settings.model_copy(update={"api_key_rotation_grace_hours": 0})
    app.state.auth = AuthTools.from_settings(settings)
    old = await _create(client, account)
    await client.post(f"{KEYS}/{old['id']}/rotate", headers=account.headers)
    assert (await client.get(ME, headers=_key_header(old["key"]))).status_code == 401


async def test_revoked_key_fails_at_once(client: httpx.AsyncClient, account: Account) -> None:
    created = await _create(client, account)
    assert (
        await client.delete(f"{KEYS}/{created['id']}", headers=account.headers)
    ).status_code == 204
    assert (await client.get(ME, headers=_key_header(created["key"]))).status_code == 401


async def test_expired_key_fails(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    created = await _create(client, account)
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == created["id"])
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.commit()
    assert (await client.get(ME, headers=_key_header(created["key"]))).status_code == 401


@pytest.mark.checklist("anti.api.unvalidated-ids", "auth.consistent-authz")
async def test_another_users_key_is_404_for_rotate_and_revoke(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, app: FastAPI
) -> None:
    created = await _create(client, account)
    other = await create_account(session, app)
    assert (
        await client.post(f"{KEYS}/{created['id']}/rotate", headers=other.headers)
    ).status_code == 404
    assert (
        await client.delete(f"{KEYS}/{created['id']}", headers=other.headers)
    ).status_code == 404
    assert (await client.get(ME, headers=_key_header(created["key"]))).status_code == 200


@pytest.mark.parametrize(
    "key",
    ["garbage", "rb_short_x", "rb_aaaaaaaaaaaa_not-the-secret", "Bearer x", "rb__", "x" * 300],
)
async def test_malformed_or_unknown_keys_are_401(client: httpx.AsyncClient, key: str) -> None:
    assert (await client.get(ME, headers={"X-API-Key": key})).status_code == 401


async def test_a_key_stops_working_when_its_owner_is_deactivated(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    created = await _create(client, account)
    await session.execute(update(User).where(User.id == account.user.id).values(is_active=False))
    await session.commit()
    assert (await client.get(ME, headers=_key_header(created["key"]))).status_code == 401

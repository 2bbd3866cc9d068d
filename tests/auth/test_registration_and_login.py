"""Sign-up and sign-in: race-free uniqueness, no user enumeration, hashing done right."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI
from passlib.hash import bcrypt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RateLimitSettings, Settings
from app.models import User
from tests.conftest import AppClient
from tests.factories import DEFAULT_PASSWORD, create_account, sign_in

REGISTER = "/api/v1/auth/register"


def _registration(
    email: str = "ada@example.com", password: str = DEFAULT_PASSWORD
) -> dict[str, str]:
    return {"email": email, "password": password, "full_name": "Ada Lovelace"}


@pytest.mark.checklist("api.http-methods-status", "api.rest-conventions")
async def test_register_returns_201_with_location_and_never_a_hash(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(REGISTER, json=_registration())
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/api/v1/users/{body['id']}"
    assert body["email"] == "ada@example.com"
    assert "password" not in response.text
    assert "argon2" not in response.text


@pytest.mark.checklist("db.constraints", "api.http-methods-status")
async def test_duplicate_email_is_409_case_insensitively(client: httpx.AsyncClient) -> None:
    assert (await client.post(REGISTER, json=_registration("Ada@Example.com"))).status_code == 201
    again = await client.post(REGISTER, json=_registration("ada@EXAMPLE.com"))
    assert again.status_code == 409
    assert again.json()["type"].endswith("/email-taken")


@pytest.mark.checklist("db.constraints", "db.transactions")
async def test_concurrent_registrations_of_one_email_create_exactly_one_user(
    committing_app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    responses = await asyncio.gather(
        *(client.post(REGISTER, json=_registration("race@example.com")) for _ in range(8))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 7
    count = await session.scalar(select(User.id).where(User.email == "race@example.com"))
    assert count is not None


@pytest.mark.checklist("api.validation", "model.validation", "anti.sec.no-input-validation")
@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short-pw", "at least 12"),
        ("x" * 129, "at most 128"),
        (" " * 20, "blank"),
    ],
)
async def test_password_rules_are_clear_422s_that_never_echo_the_password(
    client: httpx.AsyncClient, password: str, rule: str
) -> None:
    response = await client.post(REGISTER, json=_registration(password=password))
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors[0]["field"] == "body.password"
    assert rule in errors[0]["message"]
    if password.strip():
        assert password not in response.text


async def test_unknown_fields_are_rejected(client: httpx.AsyncClient) -> None:
    body = {**_registration(), "is_admin": True}
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.is_admin"


async def test_sign_in_returns_a_bearer_token_pair(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    account = await create_account(session, app)
    response = await sign_in(client, account.email, account.password)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"]
    assert body["refresh_token"]
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["email"] == account.email


@pytest.mark.checklist("auth.token-security", "anti.api.unvalidated-ids")
async def test_unknown_email_and_wrong_password_get_the_same_401(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    account = await create_account(session, app)
    wrong_password = await sign_in(client, account.email, "not the right password")
    unknown_email = await sign_in(client, "nobody@example.com", "not the right password")
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    def comparable(response: httpx.Response) -> dict[str, object]:
        body = response.json()
        body.pop("request_id")
        return body

    assert comparable(wrong_password) == comparable(unknown_email)


@pytest.mark.checklist("auth.password-hashing")
async def test_unknown_email_costs_a_full_hash_verification(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    """The timing side channel: without a dummy verification, an unknown email answers in
    microseconds and a known one in the time of a hash. Production-like parameters here."""
    from app.auth.service import AuthTools  # noqa: PLC0415
    from app.core.config import AuthSettings  # noqa: PLC0415

    app.state.auth = AuthTools.from_settings(
        AuthSettings(argon2_time_cost=2, argon2_memory_kib=16384)
    )
    account = await create_account(session, app)

    async def timed(email: str) -> float:
        started = time.perf_counter()
        assert (await sign_in(client, email, "wrong password!!")).status_code == 401
        return time.perf_counter() - started

    known = min([await timed(account.email) for _ in range(3)])
    unknown = min([await timed("nobody@example.com") for _ in range(3)])
    assert unknown > known * 0.5, (known, unknown)
    assert unknown < known * 2.0, (known, unknown)


async def test_past_the_hashing_wait_a_sign_in_is_a_503_not_an_endless_queue(
    client_for: AppClient, settings: Settings
) -> None:
    # One hashing slot and almost no patience: of six simultaneous sign-ins, the first hashes
    # and the others, which would have to wait, are told to come back.
    auth = settings.auth.model_copy(
        update={"password_hash_concurrency": 1, "password_hash_wait_seconds": 0.001}
    )
    # Its own engine: concurrent requests can't share the test's single connection.
    overrides = {"auth": auth, "rate_limit": RateLimitSettings(enabled=False)}
    async with client_for(own_database=True, **overrides) as client:
        responses = await asyncio.gather(
            *(sign_in(client, f"flood{n}@example.com", "wrong password!") for n in range(6))
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses[0] == 401
    assert statuses[-1] == 503
    busy = next(response for response in responses if response.status_code == 503)
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.headers["retry-after"] == "5"


async def test_deactivated_account_cannot_sign_in(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    account = await create_account(session, app)
    await session.execute(update(User).where(User.id == account.user.id).values(is_active=False))
    await session.commit()
    response = await sign_in(client, account.email, account.password)
    assert response.status_code == 401
    assert response.json()["detail"] == "The email or password is incorrect."


@pytest.mark.checklist("auth.password-hashing", "anti.sec.plaintext-passwords")
async def test_passwords_are_stored_as_argon2id_hashes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await client.post(REGISTER, json=_registration())
    stored = await session.scalar(select(User.password_hash).where(User.email == "ada@example.com"))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in stored


@pytest.mark.checklist("auth.password-hashing")
async def test_legacy_bcrypt_hash_is_upgraded_on_next_login(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    account = await create_account(session, app)
    legacy = bcrypt.using(rounds=4).hash(account.password)
    await session.execute(
        update(User).where(User.id == account.user.id).values(password_hash=legacy)
    )
    await session.commit()

    assert (await sign_in(client, account.email, account.password)).status_code == 200
    await session.refresh(account.user)
    assert account.user.password_hash.startswith("$argon2id$")
    assert (await sign_in(client, account.email, account.password)).status_code == 200


@pytest.mark.checklist("auth.password-hashing")
async def test_argon2_hash_with_old_parameters_is_upgraded(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    from app.auth.service import AuthTools  # noqa: PLC0415
    from app.core.config import AuthSettings  # noqa: PLC0415

    account = await create_account(session, app)
    app.state.auth = AuthTools.from_settings(
        AuthSettings(argon2_time_cost=2, argon2_memory_kib=2048, argon2_parallelism=1)
    )
    assert (await sign_in(client, account.email, account.password)).status_code == 200
    await session.refresh(account.user)
    assert "m=2048,t=2,p=1" in account.user.password_hash


@pytest.mark.checklist("auth.password-hashing")
async def test_bcrypt_never_matches_a_truncated_long_password(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    """bcrypt reads only 72 bytes: a 80-byte password sharing them must not sign in."""
    account = await create_account(session, app)
    legacy = bcrypt.using(rounds=4).hash("a" * 72)
    await session.execute(
        update(User).where(User.id == account.user.id).values(password_hash=legacy)
    )
    await session.commit()
    assert (await sign_in(client, account.email, "a" * 80)).status_code == 401
    assert (await sign_in(client, account.email, "a" * 72)).status_code == 200

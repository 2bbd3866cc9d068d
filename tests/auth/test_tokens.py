"""Access and refresh tokens: rotation, reuse detection, revocation, and forged tokens."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import AuthTools
from app.auth.tokens import TokenCodec
from app.core.config import AuthSettings, DatabaseSettings, Settings
from app.core.db import create_engine, create_sessionmaker
from tests.factories import Account, create_account, sign_in

ME = "/api/v1/users/me"
REFRESH = "/api/v1/auth/refresh"

pytestmark = pytest.mark.checklist("auth.token-security")


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def account(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(session, app)


async def test_refresh_rotates_and_the_old_refresh_token_stops_working(
    client: httpx.AsyncClient, account: Account
) -> None:
    first = await _refresh(client, account.refresh_token)
    assert first.status_code == 200
    new_pair = first.json()
    assert new_pair["refresh_token"] != account.refresh_token
    assert (await client.get(ME, headers=_bearer(new_pair["access_token"]))).status_code == 200
    assert (await _refresh(client, new_pair["refresh_token"])).status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient, account: Account
) -> None:
    victim = (await _refresh(client, account.refresh_token)).json()  # legitimate rotation
    thief = await _refresh(client, account.refresh_token)  # the stolen, already-used token
    assert thief.status_code == 401
    assert thief.json()["type"].endswith("/invalid-refresh-token")
    # The family is gone: the victim's fresh tokens fail too, so both must sign in again.
    assert (await _refresh(client, victim["refresh_token"])).status_code == 401
    assert (await client.get(ME, headers=_bearer(victim["access_token"]))).status_code == 401


async def test_garbage_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await _refresh(client, "not-a-token")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_logout_ends_the_session_for_refresh_and_access_tokens(
    client: httpx.AsyncClient, account: Account
) -> None:
    assert (await client.post("/api/v1/auth/logout", headers=account.headers)).status_code == 204
    assert (await _refresh(client, account.refresh_token)).status_code == 401
    assert (await client.get(ME, headers=account.headers)).status_code == 401


async def test_logout_leaves_other_sessions_alone(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = (await sign_in(client, account.email, account.password)).json()
    await client.post("/api/v1/auth/logout", headers=account.headers)
    assert (await client.get(ME, headers=_bearer(other["access_token"]))).status_code == 200


async def test_password_change_revokes_every_session(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = (await sign_in(client, account.email, account.password)).json()
    response = await client.post(
        "/api/v1/users/me/password",
        headers=account.headers,
        json={"current_password": account.password, "new_password": "a brand new passphrase"},
    )
    assert response.status_code == 204
    for token in (account.access_token, other["access_token"]):
        assert (await client.get(ME, headers=_bearer(token))).status_code == 401
    assert (await _refresh(client, other["refresh_token"])).status_code == 401
    assert (await sign_in(client, account.email, account.password)).status_code == 401
    assert (await sign_in(client, account.email, "a brand new passphrase")).status_code == 200


async def test_password_change_needs_the_current_password(
    client: httpx.AsyncClient, account: Account
) -> None:
    response = await client.post(
        "/api/v1/users/me/password",
        headers=account.headers,
        json={"current_password": "wrong password", "new_password": "a brand new passphrase"},
    )
    assert response.status_code == 400
    assert (await client.get(ME, headers=account.headers)).status_code == 200


# --- forged and stale access tokens --------------------------------------------------------


def _claims(account: Account, **overrides: object) -> dict[str, object]:
    genuine = jwt.decode(account.access_token, options={"verify_signature": False})
    return {**genuine, **overrides}


def _key(app: FastAPI) -> str:
    return app.state.auth.settings.jwt_keys["dev-1"].get_secret_value()


async def _assert_rejected(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(ME, headers=_bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.checklist("anti.sec.missing-authz")
async def test_alg_none_token_is_rejected(client: httpx.AsyncClient, account: Account) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"dev-1"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(_claims(account)).encode()).rstrip(b"=")
    await _assert_rejected(client, f"{header.decode()}.{payload.decode()}.")


async def test_tampered_signature_is_rejected(client: httpx.AsyncClient, account: Account) -> None:
    head, _, signature = account.access_token.split(".")
    forged_payload = base64.urlsafe_b64encode(
        json.dumps(_claims(account, sub=str(uuid.uuid4()))).encode()
    ).rstrip(b"=")
    await _assert_rejected(client, f"{head}.{forged_payload.decode()}.{signature}")


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"exp": datetime.now(UTC) - timedelta(minutes=1)},
        {"nbf": datetime.now(UTC) + timedelta(minutes=5)},
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "not-yet-valid"],
)
async def test_tokens_with_bad_claims_are_rejected(
    client: httpx.AsyncClient, app: FastAPI, account: Account, overrides: dict[str, object]
) -> None:
    token = jwt.encode(_claims(account, **overrides), _key(app), "HS256", headers={"kid": "dev-1"})
    await _assert_rejected(client, token)


@pytest.mark.parametrize("missing", ["exp", "aud", "iss", "sid", "jti", "nbf", "iat"])
async def test_tokens_missing_a_required_claim_are_rejected(
    client: httpx.AsyncClient, app: FastAPI, account: Account, missing: str
) -> None:
    claims = _claims(account)
    del claims[missing]
    await _assert_rejected(client, jwt.encode(claims, _key(app), "HS256", headers={"kid": "dev-1"}))


async def test_unknown_kid_is_rejected(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    token = jwt.encode(_claims(account), _key(app), "HS256", headers={"kid": "retired-key"})
    await _assert_rejected(client, token)


async def test_hs_rs_confusion_is_rejected(client: httpx.AsyncClient, account: Account) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(account), private_key, "RS256", headers={"kid": "dev-1"})
    await _assert_rejected(client, token)


async def test_signing_key_rotation_keeps_previous_tokens_valid_until_they_expire(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    old_ring = app.state.auth.settings
    rotated = AuthSettings(
        jwt_keys={**old_ring.jwt_keys, "k2": SecretStr("k" * 48)},
        jwt_active_kid="k2",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
    )
    app.state.auth = AuthTools.from_settings(rotated)
    # A token signed by the previous key still verifies...
    assert (await client.get(ME, headers=account.headers)).status_code == 200
    # ...and new tokens carry the new kid.
    fresh = (await sign_in(client, account.email, account.password)).json()["access_token"]
    assert jwt.get_unverified_header(fresh)["kid"] == "k2"
    assert (await client.get(ME, headers=_bearer(fresh))).status_code == 200
    # Once the old key leaves the ring, its tokens stop verifying.
    app.state.auth = AuthTools.from_settings(
        rotated.model_copy(update={"jwt_keys": {"k2": SecretStr("k" * 48)}})
    )
    await _assert_rejected(client, account.access_token)


def test_algorithms_are_fixed_in_code_not_read_from_the_token() -> None:
    codec = TokenCodec(AuthSettings())
    token = jwt.encode({"sub": "x"}, "s" * 64, "HS512", headers={"kid": "dev-1"})
    with pytest.raises(Exception, match=r"InvalidAlgorithmError|InvalidSignatureError"):
        codec.decode_access(token)


@pytest.mark.checklist("auth.token-security", "perf.horizontal-scaling")
async def test_with_a_replica_configured_sessions_are_still_checked_on_the_primary(
    committing_app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    # A lagging replica must not accept a session that was just revoked, so the session check
    # never reads it: here the replica is a server that doesn't exist, and signing in, being
    # recognised and being refused after signing out all still work.
    replica = "postgresql+asyncpg://postgres@127.0.0.1:1/replica"
    db = settings.db.model_copy(update={"read_url": replica})
    committing_app.state.settings = settings.model_copy(update={"db": db})
    dead = create_engine(DatabaseSettings(url=replica, connect_timeout=1, pool_timeout=1))
    committing_app.state.read_sessionmaker = create_sessionmaker(dead)
    try:
        email, password = "replica@example.com", "a-long-enough-passphrase"
        registered = await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "full_name": "Replica Test"},
        )
        assert registered.status_code == 201
        token = (await sign_in(client, email, password)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get(ME, headers=headers)).status_code == 200
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
        assert (await client.get(ME, headers=headers)).status_code == 401
    finally:
        await dead.dispose()

"""Drive every credential flow through a real uvicorn server and read everything it logged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.devstack.embedded import free_port

PASSWORD = "first-Secret-passphrase-123"
NEW_PASSWORD = "second-Secret-passphrase-456"

pytestmark = pytest.mark.checklist("auth.no-credential-logging", "anti.sec.credentials-in-logs")


@pytest.fixture
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The test app behind a real uvicorn (with its access log) on a loopback port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_no_credential_appears_in_any_log_line(
    capfd: pytest.CaptureFixture[str], served: str
) -> None:
    secrets: list[str] = [PASSWORD, NEW_PASSWORD]
    async with httpx.AsyncClient(base_url=f"{served}/api/v1") as client:
        registered = await client.post(
            "/auth/register",
            json={"email": "log@example.com", "password": PASSWORD, "full_name": "Log Test"},
        )
        assert registered.status_code == 201
        assert (
            await client.post(
                "/auth/token", data={"username": "log@example.com", "password": "wrong-pw-value-1"}
            )
        ).status_code == 401
        pair = (
            await client.post(
                "/auth/token", data={"username": "log@example.com", "password": PASSWORD}
            )
        ).json()
        secrets += [pair["access_token"], pair["refresh_token"]]
        rotated = (
            await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).json()
        secrets += [rotated["access_token"], rotated["refresh_token"]]
        # Reuse detection logs a warning: it must not quote the token either.
        assert (
            await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).status_code == 401
        login = (
            await client.post(
                "/auth/token", data={"username": "log@example.com", "password": PASSWORD}
            )
        ).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        secrets += [login["access_token"], login["refresh_token"]]
        key = (
            await client.post(
                "/api-keys", headers=headers, json={"name": "k", "scopes": ["posts:create"]}
            )
        ).json()["key"]
        secrets.append(key)
        assert (await client.get("/users/me", headers={"X-API-Key": key})).status_code == 200
        assert (
            await client.get("/users/me", headers={"X-API-Key": key + "tampered"})
        ).status_code == 401
        changed = await client.post(
            "/users/me/password",
            headers=headers,
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 204

    out, err = capfd.readouterr()
    logged = out + err
    assert '"POST /api/v1/auth/token HTTP/1.1" 200' in logged, logged  # the access log
    assert "login_succeeded" in logged
    leaked = [secret[:12] + "..." for secret in secrets if secret in logged]
    assert not leaked, f"credentials found in the logs: {leaked}"

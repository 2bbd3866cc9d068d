"""Every error the service can answer is an RFC 9457 problem with the same members."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field


class Login(BaseModel):
    email: str = Field(min_length=3)
    password: str = Field(min_length=12)


class Thing(BaseModel):
    name: str


PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}

pytestmark = pytest.mark.checklist("api.error-format", "anti.api.inconsistent-errors")


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body.keys() >= PROBLEM_MEMBERS
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/nothing-here"), 404)
    assert body["instance"] == "/api/v1/nothing-here"


async def test_wrong_method_is_a_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/health/live"), 405)


async def test_unexpected_exception_is_a_500_without_internals(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret_column FROM internal_table")

    response = await client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret_column" not in response.text
    assert "Traceback" not in response.text
    assert body["detail"].startswith("An unexpected error occurred")  # type: ignore[union-attr]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/health/live", content=b"x" * 2_000_000)
    assert_problem(response, 413)


@pytest.mark.checklist("api.validation")
async def test_validation_error_lists_fields_without_echoing_values(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.post("/probe")
    async def probe(login: Login) -> dict[str, str]:
        return {"email": login.email}

    response = await client.post("/probe", json={"email": "a", "password": "hunter2"})
    body = assert_problem(response, 422)
    fields = {error["field"] for error in body["errors"]}  # type: ignore[attr-defined]
    assert fields == {"body.email", "body.password"}
    assert "hunter2" not in response.text


async def test_malformed_json_is_422_not_500(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.post("/probe-json")
    async def probe(thing: Thing) -> dict[str, str]:
        return {"name": thing.name}

    response = await client.post(
        "/probe-json", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


@pytest.mark.checklist("api.validation", "anti.sec.no-input-validation")
@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate"])
async def test_text_the_database_cannot_store_is_422(client: httpx.AsyncClient, text: str) -> None:
    body = {"email": "x@example.com", "password": "p" * 16, "full_name": text}
    response = await client.post(
        "/api/v1/auth/register",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422)


async def test_deeply_nested_json_is_a_client_error_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        content=b"[" * 50_000 + b"]" * 50_000,
        headers={"content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"

from __future__ import annotations

import httpx
import pytest


async def test_request_id_is_echoed_when_sane_and_replaced_when_not(
    client: httpx.AsyncClient,
) -> None:
    sane = await client.get("/health/live", headers={"X-Request-ID": "abc-123-def-456"})
    assert sane.headers["x-request-id"] == "abc-123-def-456"
    hostile = await client.get("/health/live", headers={"X-Request-ID": "x\r\nSet-Cookie: a=b"})
    assert hostile.headers["x-request-id"] != "x\r\nSet-Cookie: a=b"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]


@pytest.mark.checklist("api.error-format", "api.validation")
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/auth/register", "text/plain"),
        ("/api/v1/auth/register", "application/x-www-form-urlencoded"),
        ("/api/v1/auth/token", "application/json"),
        ("/api/v1/auth/register", ""),
    ],
)
async def test_a_body_in_a_media_type_the_route_does_not_read_is_415(
    client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await client.post(path, content=b'{"a": 1}', headers={"content-type": content_type})
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


async def test_structured_json_media_types_are_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        content=b'{"email": "x@example.com"}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 422  # read as JSON, then validated

from __future__ import annotations

import httpx


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

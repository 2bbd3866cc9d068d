from __future__ import annotations

import httpx
import pytest


@pytest.mark.checklist("api.error-format")
async def test_every_documented_error_is_problem_json(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    errors = [
        (path, method, status, response)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if status.startswith(("4", "5"))
    ]
    assert errors, "the spec documents no error responses at all"
    for path, method, status, response in errors:
        assert list(response["content"]) == ["application/problem+json"], (path, method, status)

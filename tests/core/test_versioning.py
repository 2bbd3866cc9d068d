from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from app.core.versioning import deprecated


@pytest.mark.checklist("api.versioning", "anti.api.no-versioning")
async def test_a_deprecated_route_announces_its_sunset_and_successor(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    sunset = datetime(2026, 12, 31, tzinfo=UTC)

    @app.get(
        "/api/v1/old-thing",
        dependencies=[deprecated(since=since, sunset=sunset, successor="/api/v2/thing")],
    )
    async def old_thing() -> dict[str, str]:
        return {"still": "works"}

    response = await client.get("/api/v1/old-thing")
    assert response.status_code == 200
    assert response.headers["deprecation"] == "@1767225600"
    assert response.headers["sunset"] == "Thu, 31 Dec 2026 00:00:00 GMT"
    assert response.headers["link"] == '</api/v2/thing>; rel="successor-version"'


@pytest.mark.checklist("api.versioning", "anti.api.no-versioning")
def test_every_api_route_is_versioned(app: FastAPI) -> None:
    from tests.routes import served_routes  # noqa: PLC0415

    unversioned = [
        f"{route.method} {route.path}"
        for route in served_routes(app)
        if not route.path.startswith("/api/v1/") and not route.path.startswith("/health/")
    ]
    assert unversioned == []

"""Authorization is stated by every route and enforced the same way everywhere.

`MATRIX` is the access table of the whole API: who may call each route. A route added
without a row here fails `test_every_route_is_in_the_matrix`; a route that states no policy
fails `test_every_route_states_a_policy`.
"""

from __future__ import annotations

import re
import uuid
from typing import Literal

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import is_policy
from tests.factories import create_account
from tests.routes import served_routes

# "signed-request": no principal; the request itself must carry a valid signature (401 without).
Who = Literal["anyone", "signed-in", "member", "moderator", "admin", "signed-request"]
ROLES = ["anonymous", "member", "moderator", "admin"]
ALLOWED: dict[Who, set[str]] = {
    "anyone": {"anonymous", "member", "moderator", "admin"},
    "signed-in": {"member", "moderator", "admin"},
    "member": {"member", "moderator", "admin"},
    "moderator": {"moderator", "admin"},
    "admin": {"admin"},
    "signed-request": set(),
}

# (method, path) -> the least privileged caller allowed. Ownership rules come on top and are
# tested per domain (another user's object answers 404).
MATRIX: dict[tuple[str, str], Who] = {
    ("GET", "/health/live"): "anyone",
    ("GET", "/health/ready"): "anyone",
    ("POST", "/api/v1/auth/register"): "anyone",
    ("POST", "/api/v1/auth/token"): "anyone",
    ("POST", "/api/v1/auth/refresh"): "anyone",
    ("POST", "/api/v1/auth/logout"): "signed-in",
    ("POST", "/api/v1/users/me/password"): "signed-in",
    ("GET", "/api/v1/users/me"): "signed-in",
    ("PATCH", "/api/v1/users/me"): "signed-in",
    ("GET", "/api/v1/users"): "admin",
    ("GET", "/api/v1/users/{user_id}"): "admin",
    ("PUT", "/api/v1/users/{user_id}/roles"): "admin",
    ("PATCH", "/api/v1/users/{user_id}"): "admin",
    ("POST", "/api/v1/api-keys"): "member",
    ("GET", "/api/v1/api-keys"): "member",
    ("POST", "/api/v1/api-keys/{key_id}/rotate"): "member",
    ("DELETE", "/api/v1/api-keys/{key_id}"): "member",
    ("GET", "/api/v1/posts"): "anyone",
    ("POST", "/api/v1/posts"): "member",
    ("GET", "/api/v1/posts/{post_id}"): "anyone",
    ("PATCH", "/api/v1/posts/{post_id}"): "signed-in",
    ("DELETE", "/api/v1/posts/{post_id}"): "signed-in",
    ("GET", "/api/v1/posts/{post_id}/comments"): "anyone",
    ("POST", "/api/v1/posts/{post_id}/comments"): "member",
    ("POST", "/api/v1/posts/{post_id}/attachments"): "signed-in",
    ("GET", "/api/v1/attachments/{attachment_id}"): "anyone",
    ("GET", "/api/v1/tags"): "anyone",
    ("GET", "/api/v1/users/{user_id}/posts"): "anyone",
    ("GET", "/api/v1/users/me/posts/export"): "signed-in",
    ("GET", "/api/v1/products"): "anyone",
    ("GET", "/api/v1/products/{product_id}"): "anyone",
    ("POST", "/api/v1/products"): "admin",
    ("PATCH", "/api/v1/products/{product_id}"): "admin",
    ("POST", "/api/v1/orders"): "member",
    ("GET", "/api/v1/orders"): "signed-in",
    ("GET", "/api/v1/orders/{order_id}"): "signed-in",
    ("POST", "/api/v1/orders/{order_id}/cancel"): "signed-in",
    ("POST", "/api/v1/orders/exports"): "signed-in",
    ("GET", "/api/v1/jobs/{job_id}"): "signed-in",
    ("GET", "/api/v1/jobs/{job_id}/download"): "signed-in",
    ("POST", "/api/v1/webhooks/endpoints"): "member",
    ("GET", "/api/v1/webhooks/endpoints"): "member",
    ("GET", "/api/v1/webhooks/endpoints/{endpoint_id}"): "member",
    ("DELETE", "/api/v1/webhooks/endpoints/{endpoint_id}"): "member",
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/enable"): "member",
    ("GET", "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries"): "member",
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver"): "member",
    # Signed by the provider, not by a user: the signature is checked in place of a principal.
    ("POST", "/api/v1/integrations/payments/webhook"): "signed-request",
}


def _has_policy(dependant: Dependant) -> bool:
    return is_policy(dependant.call) or any(_has_policy(d) for d in dependant.dependencies)


@pytest.mark.checklist("auth.consistent-authz", "anti.sec.missing-authz")
def test_every_route_states_a_policy(app: FastAPI) -> None:
    health = {"/health/live", "/health/ready"}
    missing = [
        f"{served.method} {served.path}"
        for served in served_routes(app)
        if served.path not in health and not _has_policy(served.route.dependant)
    ]
    assert not missing, f"routes without Public / CurrentPrincipal / require(...): {missing}"


@pytest.mark.checklist("auth.consistent-authz", "auth.rbac")
def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    served = {(served.method, served.path) for served in served_routes(app)}
    assert served == set(MATRIX), {
        "not in MATRIX": sorted(served - set(MATRIX)),
        "no such route": sorted(set(MATRIX) - served),
    }


@pytest.fixture
async def callers(session: AsyncSession, app: FastAPI) -> dict[str, dict[str, str]]:
    headers = {"anonymous": {}}
    for role in ("member", "moderator", "admin"):
        account = await create_account(session, app, roles=(role,))
        headers[role] = account.headers
    return headers


@pytest.mark.checklist("auth.rbac", "auth.consistent-authz", "anti.sec.missing-authz")
async def test_authorization_matrix(
    client: httpx.AsyncClient, callers: dict[str, dict[str, str]]
) -> None:
    failures = []
    # Signing out ends the caller's session, so it goes last.
    ordered = sorted(MATRIX.items(), key=lambda item: item[0][1] == "/api/v1/auth/logout")
    for (method, path), least in ordered:
        url = re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), path)
        for role in ROLES:
            response = await client.request(method, url, headers=callers[role], json={})
            allowed = role in ALLOWED[least]
            if allowed and response.status_code in {401, 403}:
                failures.append(f"{role} {method} {path}: {response.status_code}, expected access")
            if not allowed:
                expected = 401 if role == "anonymous" or least == "signed-request" else 403
                if response.status_code != expected:
                    failures.append(f"{role} {method} {path}: {response.status_code} != {expected}")
    assert not failures, "\n".join(failures)

"""Broken object-level authorization, tried on every route with an id in its path.

Member A owns one object of every kind; member B calls every route with A's ids. A private
object (a draft, an API key, an order, a job, a webhook endpoint or delivery, a draft's
attachment) must answer 404 to B on every method, exactly as if it didn't exist; an object
whose existence is public (a published post, a product, a user) may be read, but every write
must be refused (403 or 404).

The routes come from the app's route table: a new route with an id parameter fails
`test_every_id_parameter_has_an_owned_object` until this file knows how to make one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PostStatus
from tests.factories import Account, create_account
from tests.orders.factories import create_product, post_order
from tests.posts.factories import create_post
from tests.routes import served_routes
from tests.webhooks.conftest import add_delivery

pytestmark = pytest.mark.checklist(
    "anti.api.unvalidated-ids", "anti.sec.missing-authz", "auth.consistent-authz"
)

Visibility = Literal["private", "public"]


@dataclass(frozen=True)
class Owned:
    id: str
    visibility: Visibility


@dataclass
class World:
    client: httpx.AsyncClient
    session: AsyncSession
    app: FastAPI
    owner: Account
    other: Account


async def _api_key(w: World) -> Owned:
    response = await w.client.post(
        "/api/v1/api-keys", headers=w.owner.headers, json={"name": "k", "scopes": ["posts:create"]}
    )
    return Owned(response.json()["id"], "private")


async def _draft_post(w: World) -> Owned:
    post = await create_post(w.session, author_id=w.owner.user.id, status=PostStatus.DRAFT)
    return Owned(str(post.id), "private")


async def _attachment(w: World) -> Owned:
    draft = await _draft_post(w)
    response = await w.client.post(
        f"/api/v1/posts/{draft.id}/attachments",
        headers=w.owner.headers,
        files={"file": ("notes.txt", b"private notes", "text/plain")},
    )
    assert response.status_code == 201, response.text
    return Owned(response.json()["id"], "private")


async def _product(w: World) -> Owned:
    return Owned(str((await create_product(w.session)).id), "public")


async def _order(w: World) -> Owned:
    product = await create_product(w.session, stock=5)
    response = await post_order(w.client, w.owner, [(product, 1)])
    assert response.status_code == 201, response.text
    return Owned(response.json()["id"], "private")


async def _job(w: World) -> Owned:
    response = await w.client.post("/api/v1/orders/exports", headers=w.owner.headers)
    assert response.status_code == 202, response.text
    return Owned(response.json()["id"], "private")


async def _endpoint(w: World) -> Owned:
    response = await w.client.post(
        "/api/v1/webhooks/endpoints",
        headers=w.owner.headers,
        json={"url": "http://127.0.0.1:9/hook", "events": ["order.paid"]},
    )
    assert response.status_code == 201, response.text
    return Owned(response.json()["id"], "private")


async def _delivery(w: World) -> Owned:
    endpoint = await _endpoint(w)
    delivery = await add_delivery(w.session, endpoint.id, status="failed")
    await w.session.commit()
    return Owned(str(delivery.id), "private")


async def _user(w: World) -> Owned:
    return Owned(str(w.owner.user.id), "public")


# Path parameter -> how member A comes to own one. Public objects are covered twice for
# posts: a draft (private) and, below, a published post (public).
OWNED: dict[str, Callable[[World], Awaitable[Owned]]] = {
    "key_id": _api_key,
    "post_id": _draft_post,
    "attachment_id": _attachment,
    "product_id": _product,
    "order_id": _order,
    "job_id": _job,
    "endpoint_id": _endpoint,
    "delivery_id": _delivery,
    "user_id": _user,
}

# Requests that would succeed if B were allowed: a valid body and headers for each write, so
# a refusal can't hide behind a 422 for a missing field.
REQUEST: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/users/{user_id}/roles"): {"json": {"roles": ["member"]}},
    ("PATCH", "/api/v1/users/{user_id}"): {"json": {"is_active": True}},
    ("PATCH", "/api/v1/posts/{post_id}"): {
        "json": {"title": "Mine now"},
        "headers": {"If-Match": '"1"'},
    },
    ("POST", "/api/v1/posts/{post_id}/comments"): {"json": {"body": "Hello"}},
    ("POST", "/api/v1/posts/{post_id}/attachments"): {
        "files": {"file": ("x.txt", b"x", "text/plain")}
    },
    ("PATCH", "/api/v1/products/{product_id}"): {"json": {"name": "Renamed"}},
}

# Writes anyone may make on an object whose existence is public: commenting on a published
# post is the point of publishing it.
OPEN_TO_OTHERS = {("POST", "/api/v1/posts/{post_id}/comments")}

_PARAMETER = re.compile(r"\{(\w+)\}")


def _id_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    return [
        (route.method, route.path, _PARAMETER.findall(route.path)[0])
        for route in served_routes(app)
        if _PARAMETER.search(route.path)
    ]


def test_every_id_parameter_has_an_owned_object(app: FastAPI) -> None:
    unknown = sorted({parameter for _, _, parameter in _id_routes(app)} - set(OWNED))
    assert not unknown, f"teach this test to create an object for {unknown}"
    bodies = [
        f"{method} {path}"
        for method, path, _ in _id_routes(app)
        if method in {"POST", "PUT", "PATCH"}
        and (method, path) not in REQUEST
        and _has_body(app, method, path)
    ]
    assert not bodies, f"give these writes a valid body in REQUEST: {bodies}"


def _has_body(app: FastAPI, method: str, path: str) -> bool:
    return any(
        route.route.body_field is not None
        for route in served_routes(app)
        if route.method == method and route.path == path
    )


async def test_another_members_objects_are_invisible_or_untouchable(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await create_account(session, app)
    other = await create_account(session, app)
    world = World(client=client, session=session, app=app, owner=owner, other=other)
    owned = {parameter: await create(world) for parameter, create in OWNED.items()}
    published = await create_post(session, author_id=owner.user.id)

    failures = []
    tried = 0
    for method, path, parameter in _id_routes(app):
        targets = [owned[parameter]]
        if parameter == "post_id":
            targets.append(Owned(str(published.id), "public"))
        for target in targets:
            extra = REQUEST.get((method, path), {})
            headers = other.headers | extra.get("headers", {})
            kwargs = {key: value for key, value in extra.items() if key != "headers"}
            response = await client.request(
                method, path.replace(f"{{{parameter}}}", target.id), headers=headers, **kwargs
            )
            tried += 1
            allowed = {404} if target.visibility == "private" else {403, 404}
            if target.visibility == "public" and (
                method == "GET" or (method, path) in OPEN_TO_OTHERS
            ):
                allowed |= {200, 201}
            if response.status_code not in allowed:
                failures.append(
                    f"{method} {path} on A's {target.visibility} object: "
                    f"{response.status_code}, expected one of {sorted(allowed)}"
                )
            if target.visibility == "private":
                assert owner.email not in response.text
    routes = len(_id_routes(app))
    summary = f"{tried} requests over {routes} routes, {len(failures)} failures"
    print(f"\nobject-level authorization: {summary}")  # noqa: T201
    assert tried >= routes
    assert not failures, "\n".join(failures)

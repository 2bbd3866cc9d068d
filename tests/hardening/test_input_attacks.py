"""Hostile input in every parameter of every operation: SQL injection, malformed ids and
cursors, huge numbers, control characters and odd Unicode. Nothing may answer 500, and nothing
may leak another user's private data.

The operations come from the app's own OpenAPI document, so a new endpoint is attacked
without anyone writing a test for it. The number of requests is printed (docs/reliability.md).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PostStatus
from tests.factories import create_account
from tests.posts.factories import create_post

pytestmark = pytest.mark.checklist(
    "anti.sec.sql-injection",
    "anti.sec.no-input-validation",
    "api.validation",
    "api.error-format",
)

SECRET_MARKER = "zq-private-marker-7731"
TEXT_ATTACKS = [
    "' OR '1'='1",
    "1; DROP TABLE users; --",
    "') OR ('a'='a",
    "1 UNION SELECT password_hash, email FROM users --",
    "%' AND 1=1 AND '%'='",
    "admin'--",
    "\\x00\\x27",
    "nul\x00byte",
    "<script>alert(1)</script>",
    "\U0001d518\U0001d52b\U0001d526 \u2603 \u202e\u200b",  # astral plane, RTL override
    "a" * 5000,
    "-published_at; SELECT pg_sleep(5)",
]
ID_ATTACKS = ["not-a-uuid", "1 OR 1=1", "00000000-0000-0000-0000-000000000000'", "..%2F..%2Fetc"]
NUMBER_ATTACKS = [10**30, -(2**63), 0, -1]
CURSOR_ATTACKS = ["garbage", "e30.AAAA", "' OR 1=1 --", "x" * 600]
SKIP_OPERATIONS = {
    # Signed by the payment provider: every attack is a bad signature (tested elsewhere).
    ("post", "/api/v1/integrations/payments/webhook"),
}


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        return _resolve(options[0], spec) if options else schema
    if "allOf" in schema:
        return _resolve(schema["allOf"][0], spec)
    return schema


def _valid(schema: dict[str, Any], spec: dict[str, Any]) -> Any:  # noqa: PLR0911
    schema = _resolve(schema, spec)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {
            name: _valid(prop, spec)
            for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return [_valid(schema.get("items", {}), spec)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    formats = {
        "email": "attack@example.com",
        "uuid": str(uuid.uuid4()),
        "uri": "http://127.0.0.1:9/x",
    }
    return formats.get(schema.get("format", ""), "x" * max(1, schema.get("minLength", 1)))


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))
    elif isinstance(value, str):
        yield path


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copied = copy.deepcopy(value)
    target = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copied


def _parameter_attacks(
    path: str, parameter: dict[str, Any], base: dict[str, str], spec: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    schema = _resolve(parameter.get("schema", {}), spec)
    name, where = parameter["name"], parameter["in"]
    url = path.format(**base)
    if where == "path":
        for attack in ID_ATTACKS + TEXT_ATTACKS[:4]:
            yield path.format(**(base | {name: attack})), {}
    elif where == "query":
        if schema.get("type") == "integer":
            attacks: list[Any] = NUMBER_ATTACKS
        elif name == "cursor":
            attacks = CURSOR_ATTACKS + TEXT_ATTACKS[:3]
        else:
            attacks = TEXT_ATTACKS
        for attack in attacks:
            yield url, {"params": {name: attack}}
    elif where == "header" and name.lower() not in {"authorization", "x-api-key"}:
        for attack in TEXT_ATTACKS[:6]:
            if attack.isascii() and attack.isprintable():
                yield url, {"headers": {name: attack}}


def _body_attacks(operation: dict[str, Any], spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    body = operation.get("requestBody", {}).get("content", {})
    if "application/json" in body:
        valid = _valid(body["application/json"]["schema"], spec)
        for string_path in list(_string_paths(valid)) or [()]:
            for attack in TEXT_ATTACKS:
                yield {"json": _replaced(valid, string_path, attack) if string_path else valid}
    elif "application/x-www-form-urlencoded" in body:
        for attack in TEXT_ATTACKS:
            yield {"data": {"username": attack, "password": attack}}


def _requests(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, url, httpx kwargs) for every attack on every operation."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if (method, path) in SKIP_OPERATIONS:
                continue
            parameters = operation.get("parameters", [])
            base = {p["name"]: str(uuid.uuid4()) for p in parameters if p["in"] == "path"}
            for parameter in parameters:
                for url, kwargs in _parameter_attacks(path, parameter, base, spec):
                    yield method, url, kwargs
            for kwargs in _body_attacks(operation, spec):
                yield method, path.format(**base), kwargs


async def test_no_attack_on_any_parameter_causes_a_500_or_leaks_private_data(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    victim = await create_account(session, app)
    attacker = await create_account(session, app, roles=("member", "moderator"))
    await create_post(
        session, author_id=victim.user.id, status=PostStatus.DRAFT, title=SECRET_MARKER
    )
    spec = (await client.get("/openapi.json")).json()
    requests = list(_requests(spec))
    failures = []
    for method, url, kwargs in requests:
        headers = attacker.headers | kwargs.pop("headers", {})
        response = await client.request(method, url, headers=headers, **kwargs)
        if response.status_code >= 500 and response.status_code != 503:
            failures.append(f"{method.upper()} {url} {kwargs}: {response.status_code}")
        if SECRET_MARKER in response.text:
            failures.append(f"{method.upper()} {url} {kwargs}: leaked the victim's draft")
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", url
    print(f"\ninput attacks: {len(requests)} requests, {len(failures)} failures")  # noqa: T201
    assert len(requests) > 500
    assert not failures, "\n".join(failures[:20])

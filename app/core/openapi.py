"""The OpenAPI document, made to tell the truth about errors.

FastAPI documents every validation error as its own `HTTPValidationError` JSON; this service
answers problem+json. So the schema is rewritten once: every 422 (and every declared error)
points at `Problem` under `application/problem+json`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_JSON, Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(
            Problem.model_json_schema(ref_template="#/components/schemas/{model}").pop("$defs", {})
        )
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components["Problem"].pop("$defs", None)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                _declare_generic_errors(operation)
                for status, response in operation["responses"].items():
                    if status.startswith(("4", "5")):
                        response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


# Errors any operation can answer whatever its handler does: middleware limits, the rate
# limiter, and an unreachable database. Declared once here so the spec doesn't lie.
_ANY_OPERATION = {"429": "Too Many Requests", "503": "Service Unavailable"}
_WITH_BODY = {
    "400": "Bad Request",  # a body that isn't UTF-8 can't be parsed at all
    "413": "Content Too Large",
    "415": "Unsupported Media Type",
    "422": "Unprocessable Content",
}


def _declare_generic_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    generic = dict(_ANY_OPERATION)
    if "requestBody" in operation:
        generic |= _WITH_BODY
    for status, description in generic.items():
        responses.setdefault(status, {"description": description})

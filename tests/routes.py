"""The app's route table, flattened (FastAPI includes routers lazily)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts


@dataclass(frozen=True)
class ServedRoute:
    method: str
    path: str
    route: APIRoute


def served_routes(app: FastAPI) -> list[ServedRoute]:
    """Every (method, full path) the app serves through an APIRoute, HEAD excluded."""
    served = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path is not None:
            served += [
                ServedRoute(method=method, path=context.path, route=route)
                for method in sorted(context.methods or ())
                if method != "HEAD"
            ]
    return served

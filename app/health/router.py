"""`/health/live` and `/health/ready`, outside the versioned API (they describe the process)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.core.errors import problem_response, problem_responses
from app.health.service import check_readiness

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: str = "ok"


class ReadinessRead(BaseModel):
    status: str
    checks: dict[str, str]
    details: dict[str, Any] = {}


@router.get("/live", summary="The process is up", response_model=Liveness)
async def live() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    summary="PostgreSQL and Redis are reachable",
    response_model=ReadinessRead,
    responses=problem_responses(503),
)
async def ready(request: Request) -> ReadinessRead | JSONResponse:
    state = request.app.state
    readiness = await check_readiness(
        engine=state.engine, redis=state.redis, key_prefix=state.settings.redis.key_prefix
    )
    if not readiness.ready:
        return problem_response(
            request,
            status=503,
            title="Service unavailable",
            detail="Not ready: " + ", ".join(readiness.failing) + " failing.",
            checks=readiness.checks,
            details=readiness.details,
        )
    return ReadinessRead(status="ok", checks=readiness.checks, details=readiness.details)

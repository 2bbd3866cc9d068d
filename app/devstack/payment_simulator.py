"""A payment provider for development and tests: a small ASGI app, `make run` starts it.

    python -m app.devstack.payment_simulator      # listens where PAYMENTS_BASE_URL points

The API (what `app/integrations/provider.py` calls):
    POST /v1/charges  {amount, currency, reference}   Authorization: Bearer <PAYMENTS_API_KEY>
                      Idempotency-Key: <key>           -> 201 {id, status, ...}; a repeated key
                                                          -> 200 and the same charge, not a new one
It then sends a signed callback (`payment.succeeded` / `payment.failed`, Standard Webhooks,
PAYMENTS_WEBHOOK_SECRET) to the API's `/api/v1/integrations/payments/webhook`, retrying a few
times if it isn't acknowledged.

Misbehaviour on demand, for demos and tests of timeouts, retries and the circuit breaker:
    POST /admin/config {"latency_ms": 2000, "error_rate": 0.5, "outage": true,
                        "throttle_seconds": 3, "decline": true}     (any subset)
    GET  /admin/stats   calls and charges per idempotency key, callbacks sent
    POST /admin/reset   forget everything
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import secrets
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.core.signatures import standard_webhook

logger = structlog.get_logger(__name__)

CALLBACK_PATH = "/api/v1/integrations/payments/webhook"
CALLBACK_ATTEMPTS = 4


@dataclass
class Behaviour:
    latency_ms: int = 0
    error_rate: float = 0.0
    outage: bool = False
    throttle_seconds: int = 0
    decline: bool = False


@dataclass
class Ledger:
    calls: Counter[str] = field(default_factory=Counter)
    charges: Counter[str] = field(default_factory=Counter)
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] = field(default_factory=list)


class PaymentSimulator:
    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        callback_url: str | None,
        seed: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.signer = standard_webhook(webhook_secret)
        self.callback_url = callback_url
        self.behaviour = Behaviour()
        self.ledger = Ledger()
        self._random = random.Random(seed)  # noqa: S311 - simulated failures, not security
        self._lock = asyncio.Lock()
        self._callbacks: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                Route("/v1/charges", self.create_charge, methods=["POST"]),
                Route("/admin/config", self.configure, methods=["POST"]),
                Route("/admin/stats", self.stats, methods=["GET"]),
                Route("/admin/reset", self.reset, methods=["POST"]),
            ]
        )

    async def create_charge(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if key:
            self.ledger.calls[key] += 1
        if (refusal := await self._misbehave(request)) is not None:
            return refusal
        if not key:
            return JSONResponse({"error": "Idempotency-Key is required"}, status_code=400)
        body = await request.json()
        async with self._lock:  # two calls with one key at once still make one charge
            if key in self.ledger.stored:
                return JSONResponse(self.ledger.stored[key], status_code=200)
            charge = {
                "id": f"ch_{secrets.token_hex(8)}",
                "status": "failed" if self.behaviour.decline else "succeeded",
                "amount": body["amount"],
                "currency": body["currency"],
                "reference": body["reference"],
                "created_at": datetime.now(UTC).isoformat(),
            }
            self.ledger.stored[key] = charge
            self.ledger.charges[key] += 1
        logger.info("simulator_charge_created", charge_id=charge["id"], status=charge["status"])
        if self.callback_url:
            task = asyncio.create_task(self._send_callback(charge))
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)
        return JSONResponse(charge, status_code=201)

    async def _misbehave(self, request: Request) -> Response | None:
        """The configured failure for this call, or None to go on and charge."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        behaviour = self.behaviour
        if behaviour.outage:
            return JSONResponse({"error": "service unavailable"}, status_code=503)
        if behaviour.throttle_seconds:
            return JSONResponse(
                {"error": "slow down"},
                status_code=429,
                headers={"Retry-After": str(behaviour.throttle_seconds)},
            )
        if behaviour.latency_ms:
            await asyncio.sleep(behaviour.latency_ms / 1000)
        if self._random.random() < behaviour.error_rate:
            return JSONResponse({"error": "internal error"}, status_code=500)
        return None

    async def _send_callback(self, charge: dict[str, Any]) -> None:
        event_type = f"payment.{charge['status']}"
        event_id = f"evt_{uuid.uuid4().hex}"
        body = orjson.dumps({"type": event_type, "data": charge}).decode()
        async with httpx.AsyncClient(timeout=5) as client:
            for attempt in range(1, CALLBACK_ATTEMPTS + 1):
                now = datetime.now(UTC)
                headers = {
                    "content-type": "application/json",
                    "webhook-id": event_id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": self.signer.sign(event_id, now, body),
                }
                status = None
                with contextlib.suppress(httpx.HTTPError):
                    status = (
                        await client.post(str(self.callback_url), content=body, headers=headers)
                    ).status_code
                self.ledger.callbacks.append(
                    {"event_id": event_id, "type": event_type, "attempt": attempt, "status": status}
                )
                if status is not None and status < 300:
                    return
                await asyncio.sleep(0.5 * 2**attempt)

    async def configure(self, request: Request) -> Response:
        changes = await request.json()
        for name, value in changes.items():
            if not hasattr(self.behaviour, name):
                return JSONResponse({"error": f"unknown setting {name}"}, status_code=422)
            setattr(self.behaviour, name, value)
        return JSONResponse(asdict(self.behaviour))

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                "calls": dict(self.ledger.calls),
                "charges": dict(self.ledger.charges),
                "callbacks": self.ledger.callbacks,
                "behaviour": asdict(self.behaviour),
            }
        )

    async def reset(self, request: Request) -> Response:
        self.behaviour = Behaviour()
        self.ledger = Ledger()
        return Response(status_code=204)


def simulator_for(settings: Settings, *, callback_url: str | None = None) -> PaymentSimulator:
    """The simulator the settings describe: their API key and webhook secret, calling back
    `callback_url` (default: the API at HOST:PORT)."""
    return PaymentSimulator(
        api_key=settings.payments.api_key.get_secret_value(),
        webhook_secret=settings.payments.webhook_secret.get_secret_value(),
        callback_url=callback_url
        or f"http://{settings.http.host}:{settings.http.port}{CALLBACK_PATH}",
    )


def is_local(base_url: str) -> bool:
    """True if PAYMENTS_BASE_URL points at this machine (so `make run` starts the simulator)."""
    return urlsplit(base_url).hostname in {"127.0.0.1", "localhost", "::1"}


def main() -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.json_logs)
    parts = urlsplit(settings.payments.base_url)
    parser = argparse.ArgumentParser(description="The payment provider simulator.")
    parser.add_argument("--host", default=parts.hostname or "127.0.0.1")
    parser.add_argument("--port", type=int, default=parts.port or 8010)
    parser.add_argument("--callback-url", help="Where to send callbacks (default: the API).")
    arguments = parser.parse_args()
    uvicorn.run(
        simulator_for(settings, callback_url=arguments.callback_url).app,
        host=arguments.host,
        port=arguments.port,
        log_config=None,
        server_header=False,
    )


if __name__ == "__main__":
    main()

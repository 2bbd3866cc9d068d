"""Webhook receivers on loopback, a real worker and beat on the real Redis broker, factories."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.core.config import Settings, get_settings
from app.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.tools import WebhookTools
from tests.loopback import serve
from worker.celery_app import create_worker_app

ENDPOINTS = "/api/v1/webhooks/endpoints"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """A webhook receiver: answers each request with the next scripted status (the last one
    repeats), after `delay` seconds, and records what it received and how it answered."""

    def __init__(self) -> None:
        self.statuses: list[int] = [200]
        self.delay = 0.0
        self.received: list[Received] = []
        self.url = ""

    def script(self, *statuses: int, delay: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay = delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.received.append(Received(dict(request.headers), body, status))
        if self.delay:
            await asyncio.sleep(self.delay)
        await Response(status_code=status)(scope, receive, send)

    @property
    def succeeded(self) -> list[Received]:
        return [request for request in self.received if 200 <= request.answered < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on a free 127.0.0.1 port, at `receiver.url`."""
    receiver = Receiver()
    with serve(receiver) as base_url:
        receiver.url = f"{base_url}/hooks/orders"
        yield receiver


@pytest.fixture
def webhook_env(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    worker_env: dict[str, str],
) -> Iterator[Settings]:
    """The worker's settings (tests/workers.py's, plus second-scale webhook timings): retries
    after about 0.2 s, three of them; the dispatcher every 0.2 s; disabled after 2 failures.
    A test adds variables with `@pytest.mark.parametrize("webhook_env", [{...}], indirect=True)`.
    """
    env = {
        "WEBHOOKS_RETRY_SCHEDULE_SECONDS": "0.2,0.2,0.2",
        "WEBHOOKS_DISPATCH_INTERVAL_SECONDS": "0.2",
        "WEBHOOKS_DISABLE_AFTER_FAILURES": "2",
        "WEBHOOKS_TIMEOUT": "3",
        "OUTBOX_RELAY_INTERVAL_SECONDS": "1",
    } | getattr(request, "param", {})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def webhook_worker(webhook_env: Settings, tmp_path: Path) -> Iterator[Celery]:
    """A real Celery worker (solo pool, a thread of this process) and a real beat, the clock
    of the dispatcher of due retries, both on this test's keys of the real Redis broker."""
    celery = create_worker_app(webhook_env)
    beat = EmbeddedService(celery, thread=True, schedule_filename=str(tmp_path / "beat-schedule"))
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        beat.start()
        try:
            yield celery
        finally:
            beat.stop()


async def create_endpoint(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    url: str = "http://127.0.0.1:9/hooks",
    events: tuple[str, ...] = ("order.paid",),
) -> dict[str, Any]:
    """`POST /webhooks/endpoints`; the answer (with its one-time `secret`)."""
    response = await client.post(
        ENDPOINTS, headers=headers, json={"url": url, "events": list(events)}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def add_delivery(
    session: AsyncSession,
    endpoint_id: uuid.UUID | str,
    *,
    status: str = "pending",
    event_type: str = "order.paid",
) -> WebhookDelivery:
    """A delivery of a made-up order event, in the given state, flushed."""
    finished = status != "pending"
    delivery = WebhookDelivery(
        endpoint_id=uuid.UUID(str(endpoint_id)),
        event_id=uuid.uuid4(),
        event_type=event_type,
        payload={"type": event_type, "timestamp": "2026-11-28T08:00:00+00:00", "data": {}},
        status=status,
        attempt_count=1 if finished else 0,
        next_attempt_at=None if finished else datetime.now(UTC),
        failure_reason="retries_exhausted" if status == "failed" else None,
    )
    session.add(delivery)
    await session.flush()
    return delivery


async def endpoint_row(session: AsyncSession, endpoint_id: str | uuid.UUID) -> WebhookEndpoint:
    endpoint = await session.get(
        WebhookEndpoint, uuid.UUID(str(endpoint_id)), populate_existing=True
    )
    assert endpoint is not None
    return endpoint


def tools_for(app: FastAPI) -> WebhookTools:
    return WebhookTools.from_settings(app.state.settings)

"""Fixtures for background work: a real Celery worker on the real Redis broker, and the payment
simulator on loopback (a pytest plugin, registered in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from app.core.config import Settings, get_settings
from app.devstack.payment_simulator import PaymentSimulator
from tests.loopback import serve
from worker.celery_app import create_worker_app


@dataclass(frozen=True)
class Simulator:
    sim: PaymentSimulator
    url: str

    def configure(self, **behaviour: Any) -> None:
        for name, value in behaviour.items():
            setattr(self.sim.behaviour, name, value)


@pytest.fixture
def simulator(settings: Settings) -> Iterator[Simulator]:
    sim = PaymentSimulator(
        api_key=settings.payments.api_key.get_secret_value(),
        webhook_secret=settings.payments.webhook_secret.get_secret_value(),
        callback_url=None,
        seed=7,
    )
    with serve(sim.app) as url:
        yield Simulator(sim=sim, url=url)


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, simulator: Simulator
) -> Iterator[dict[str, str]]:
    """What a worker process reads from its environment in these tests: the simulator, this
    test's Redis prefix (breaker keys and broker keys), quick breaker and retry timings."""
    env = {
        "PAYMENTS_BASE_URL": simulator.url,
        "REDIS_KEY_PREFIX": settings.redis.key_prefix,
        "PAYMENTS_READ_TIMEOUT": "2",
        "PAYMENTS_RETRY_ATTEMPTS": "2",
        "PAYMENTS_RETRY_MAX_WAIT": "0.2",
        "PAYMENTS_BREAKER_FAIL_MAX": "100",
        "PAYMENTS_BREAKER_RESET_SECONDS": "1",
        "BLOB_DIR": str(settings.blob_root),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


@pytest.fixture
def celery_app(settings: Settings, worker_env: dict[str, str]) -> Celery:
    """The worker's Celery app, on the broker keys of this test (the API's producer, built
    from the same `settings`, publishes to them)."""
    return create_worker_app(settings)


@pytest.fixture
def celery_worker(celery_app: Celery) -> Iterator[Any]:
    """A real worker consuming from Redis in a thread of this process (solo pool)."""
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        yield


async def eventually(
    probe: Callable[[], Awaitable[bool]], *, within: float = 20, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def order_status(client: httpx.AsyncClient, headers: dict[str, str], order_id: str) -> str:
    status: str = (await client.get(f"/api/v1/orders/{order_id}", headers=headers)).json()["status"]
    return status

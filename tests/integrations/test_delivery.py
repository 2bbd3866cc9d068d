"""Delivery survives failures: the broker down at commit time, a worker killed mid-charge."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import CelerySettings, OutboxSettings, Settings
from app.core.db import create_sessionmaker
from app.devstack.embedded import EmbeddedRedis, free_port
from app.main import create_app
from app.models import OutboxEvent, Payment
from tests.conftest import ServiceUrls, make_settings, truncate_all
from tests.orders.factories import committed_account, committed_session, create_product, post_order
from tests.workers import Simulator, eventually, order_status
from worker.celery_app import create_worker_app

ROOT = Path(__file__).resolve().parents[2]


async def _unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).where(OutboxEvent.published_at.is_(None))
        return int(await connection.scalar(query) or 0)


@pytest.fixture
def broker_port() -> int:
    return free_port()


@pytest.fixture
async def own_broker_app(
    services: ServiceUrls, engine: AsyncEngine, broker_port: int, settings: Settings
) -> AsyncIterator[FastAPI]:
    """The app with a broker of its own (a Redis we can stop), committing for real."""
    app_settings = make_settings(
        services,
        redis=settings.redis,
        celery=CelerySettings(broker_url=f"redis://127.0.0.1:{broker_port}/0"),
        outbox=OutboxSettings(relay_interval_seconds=0.5),
    )
    app = create_app(app_settings)
    async with LifespanManager(app):
        app.state.sessionmaker = create_sessionmaker(engine)
        yield app
    await truncate_all(engine)


@pytest.mark.checklist("integ.message-queues", "perf.background-jobs", "db.transactions")
async def test_an_order_committed_while_the_broker_is_down_is_charged_once_it_is_back(
    *,
    own_broker_app: FastAPI,
    engine: AsyncEngine,
    broker_port: int,
    simulator: Simulator,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    transport = httpx.ASGITransport(app=own_broker_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        customer = await committed_account(own_broker_app)
        async with committed_session(own_broker_app) as session:
            mug = await create_product(session, stock=5)
        # Nothing listens on the broker's port: the after-commit nudge fails, the order doesn't.
        started = time.monotonic()
        response = await post_order(client, customer, [(mug, 1)])
        assert response.status_code == 201
        assert time.monotonic() - started < 3
        order_id = response.json()["id"]
        assert await _unpublished(engine) == 1

        with EmbeddedRedis(tmp_path / "broker", port=broker_port, persist=False):
            celery = create_worker_app(own_broker_app.state.settings)
            beat = EmbeddedService(
                celery, thread=True, schedule_filename=str(tmp_path / "beat-schedule")
            )
            with start_worker(celery, pool="solo", perform_ping_check=False):
                beat.start()  # the periodic relay finds the event the nudge couldn't announce
                try:

                    async def paid() -> bool:
                        return await order_status(client, customer.headers, order_id) == "paid"

                    await eventually(paid, what="the order to be paid once Redis is back")
                finally:
                    beat.stop()
    assert simulator.sim.ledger.charges == {order_id: 1}


@pytest.fixture
def worker_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _start_worker_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    return subprocess.Popen(  # noqa: S603 - a fixed command
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: SIGKILL reaches the pool child too
    )


@pytest.mark.checklist("integ.idempotency", "integ.message-queues")
async def test_a_worker_killed_mid_charge_is_redelivered_and_charges_exactly_once(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    simulator: Simulator,
    worker_env: dict[str, str],
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    visibility_timeout = 2
    env = os.environ | worker_env | {"CELERY_VISIBILITY_TIMEOUT_SECONDS": str(visibility_timeout)}
    simulator.configure(latency_ms=4000)  # the provider takes a while: time to kill the worker
    worker_processes.append(_start_worker_process(env))
    customer = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        mug = await create_product(session, stock=5)
    order_id = (await post_order(client, customer, [(mug, 1)])).json()["id"]

    async def charging() -> bool:
        return simulator.sim.ledger.calls[order_id] == 1

    await eventually(charging, within=30, what="the worker to call the provider")
    os.killpg(worker_processes[0].pid, signal.SIGKILL)  # mid-call: no ack, no reject
    worker_processes[0].wait()
    simulator.configure(latency_ms=0)
    time.sleep(visibility_timeout + 1)  # noqa: ASYNC251 - let the unacked message become visible
    worker_processes.append(_start_worker_process(env))

    async def paid() -> bool:
        return await order_status(client, customer.headers, order_id) == "paid"

    await eventually(paid, within=30, what="the redelivered charge to pay the order")
    assert simulator.sim.ledger.calls[order_id] == 2  # called again after the redelivery...
    assert simulator.sim.ledger.charges == {order_id: 1}  # ...and charged once
    async with engine.connect() as connection:
        attempts = await connection.scalar(
            select(Payment.attempts).where(Payment.order_id == order_id)
        )
    assert attempts == 2

"""The orders domain's Celery task: producing an export file (see app/orders/exports.py)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog
from celery import Task, shared_task
from sqlalchemy import exc as sa_exc

from app.core import outbox
from app.core.config import get_settings
from app.core.storage import create_storage
from app.orders import exports
from worker.db import run, session_scope

logger = structlog.get_logger(__name__)

EXPORT_TASK = "orders.export_orders"

outbox.subscribe(exports.EXPORT_REQUESTED, EXPORT_TASK)

if TYPE_CHECKING:
    _Task = Task[Any, str]
else:
    _Task = Task  # celery's Task is generic in its type stubs only


class ExportTask(_Task):
    def on_failure(
        self, exc: Exception, task_id: str, args: Any, kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """Out of retries (or not retryable): the job is failed, visibly, for its owner."""
        job_id = uuid.UUID(kwargs["aggregate_id"])

        async def give_up() -> None:
            async with session_scope() as session:
                await exports.fail(session, job_id, reason=type(exc).__name__)

        run(give_up())


@shared_task(
    name=EXPORT_TASK,
    base=ExportTask,
    autoretry_for=(sa_exc.OperationalError, sa_exc.InterfaceError, OSError),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def export_orders(**event: Any) -> str:
    """Subscriber of `orders.export_requested`: writes the CSV and completes the job."""
    return run(_export(uuid.UUID(event["aggregate_id"])))


async def _export(job_id: uuid.UUID) -> str:
    settings = get_settings()
    async with session_scope() as session:
        params = await exports.start(session, job_id)
    if params is None:
        return "skipped"
    customer_id = params.get("customer_id")
    storage = create_storage(settings)
    async with session_scope() as session:
        blob = await storage.save(
            exports.EXPORT_PREFIX,
            exports.csv_chunks(
                session, customer_id=uuid.UUID(customer_id) if customer_id else None
            ),
            max_bytes=settings.orders.export_max_bytes,
        )
    async with session_scope() as session:
        await exports.succeed(session, job_id, blob)
    return "exported"

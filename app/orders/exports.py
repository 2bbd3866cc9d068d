"""Order exports: a background job that writes a CSV into blob storage, polled by its owner.

`POST /orders/exports` only records a `queued` job and an `orders.export_requested` outbox
event (one transaction, answered 202); the relay hands the event to `orders.export_orders`
(app/orders/tasks.py), which streams the rows out of PostgreSQL in batches and into blob
storage, then marks the job `succeeded` with the file's key. Heavy work stays off the request
path, the file never enters the database, and a redelivered task simply redoes the export.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import outbox
from app.core.storage import StoredBlob
from app.models import Job, JobStatus
from app.orders import repository
from app.orders.errors import JobNotFinished, JobNotFound

logger = structlog.get_logger(__name__)

EXPORT_REQUESTED = "orders.export_requested"
EXPORT_KIND = "orders_export"
EXPORT_PREFIX = "exports"
CSV_HEADER = (
    "order_id",
    "placed_at",
    "customer_id",
    "status",
    "currency",
    "product_id",
    "quantity",
    "unit_price_amount",
    "line_total_amount",
)
_FLUSH_BYTES = 64 * 1024


async def request_export(session: AsyncSession, *, owner_id: uuid.UUID, all_customers: bool) -> Job:
    """Queues an export of the owner's orders (everyone's if `all_customers`)."""
    job = Job(
        owner_id=owner_id,
        kind=EXPORT_KIND,
        status=JobStatus.QUEUED.value,
        params={"customer_id": None if all_customers else str(owner_id)},
    )
    session.add(job)
    await session.flush()
    await outbox.add_event(
        session, EXPORT_REQUESTED, aggregate_id=job.id, payload={"job_id": str(job.id)}
    )
    logger.info("export_requested", job_id=str(job.id), all_customers=all_customers)
    return job


async def get_job(session: AsyncSession, job_id: uuid.UUID, *, owner_id: uuid.UUID) -> Job:
    """The owner's job. Raises JobNotFound, also for someone else's."""
    job = await repository.get_job(session, job_id)
    if job is None or job.owner_id != owner_id:
        raise JobNotFound("No such job.")
    return job


async def result_of(session: AsyncSession, job_id: uuid.UUID, *, owner_id: uuid.UUID) -> str:
    """The storage key of the job's file. Raises JobNotFound, JobNotFinished (409)."""
    job = await get_job(session, job_id, owner_id=owner_id)
    if job.status != JobStatus.SUCCEEDED or job.result_key is None:
        raise JobNotFinished(f"The job is {job.status}; its file exists once it has succeeded.")
    return job.result_key


async def start(session: AsyncSession, job_id: uuid.UUID) -> dict[str, str | None] | None:
    """Marks the job running and returns its parameters; None if it already ended (a
    redelivered task has nothing to do)."""
    job = await repository.lock_job(session, job_id)
    if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        return None
    job.status = JobStatus.RUNNING.value
    job.attempts += 1
    await session.flush()
    return dict(job.params)


async def succeed(session: AsyncSession, job_id: uuid.UUID, blob: StoredBlob) -> None:
    job = await repository.lock_job(session, job_id)
    if job is None:
        return
    job.status = JobStatus.SUCCEEDED.value
    job.result_key = blob.key
    job.result_size = blob.size
    job.error = None
    job.finished_at = datetime.now(UTC)
    await session.flush()
    logger.info("export_finished", job_id=str(job_id), bytes=blob.size)


async def fail(session: AsyncSession, job_id: uuid.UUID, *, reason: str) -> None:
    job = await repository.lock_job(session, job_id)
    if job is None or job.status == JobStatus.SUCCEEDED:
        return
    job.status = JobStatus.FAILED.value
    job.error = reason[:200]
    job.finished_at = datetime.now(UTC)
    await session.flush()
    logger.warning("export_failed", job_id=str(job_id), reason=reason)


async def csv_chunks(
    session: AsyncSession, *, customer_id: uuid.UUID | None
) -> AsyncIterator[bytes]:
    """The export as CSV, in chunks of about 64 KiB, read from a server-side cursor: memory
    stays flat however many orders there are."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    async for order, item in repository.stream_order_rows(session, customer_id=customer_id):
        writer.writerow(
            (
                order.id,
                order.created_at.isoformat(),
                order.customer_id,
                order.status,
                order.currency,
                item.product_id,
                item.quantity,
                item.unit_price_amount,
                item.quantity * item.unit_price_amount,
            )
        )
        if buffer.tell() >= _FLUSH_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()

"""The plumbing's periodic tasks: relaying the outbox and purging what has expired.

`outbox.relay` runs every few seconds from beat and right after any commit that wrote an
event (the nudge); concurrent runs are safe (`FOR UPDATE SKIP LOCKED`), so beat and nudges may
overlap freely.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from celery import Task, shared_task

from app.core import idempotency, outbox
from app.core.config import get_settings
from worker.db import run, session_scope

logger = structlog.get_logger(__name__)


@shared_task(name=outbox.RELAY_TASK, bind=True, ignore_result=True)
def relay_outbox(self: Task[Any, Any]) -> int:
    """Publishes pending events (batch after batch, each its own transaction); returns how
    many were published."""
    settings = get_settings().outbox
    publish = outbox.celery_publisher(self.app)

    async def relay_all() -> int:
        total = 0
        while True:
            async with session_scope() as session:
                result = await outbox.relay(session, publish, batch_size=settings.relay_batch_size)
            total += result.published
            if result.failed or result.published < settings.relay_batch_size:
                return total

    return run(relay_all())


@shared_task(name="outbox.purge", ignore_result=True)
def purge_outbox() -> int:
    days = get_settings().outbox.retention_days

    async def purge() -> int:
        async with session_scope() as session:
            return await outbox.purge_published(session, older_than=timedelta(days=days))

    purged = run(purge())
    logger.info("outbox_purged", events=purged)
    return purged


@shared_task(name="idempotency.purge", ignore_result=True)
def purge_idempotency_keys() -> int:
    async def purge() -> int:
        async with session_scope() as session:
            return await idempotency.purge_expired(session)

    purged = run(purge())
    logger.info("idempotency_keys_purged", keys=purged)
    return purged

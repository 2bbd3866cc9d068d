"""The posts domain's Celery task: sweeping attachment files that lost their row."""

from __future__ import annotations

from celery import shared_task

from app.core.config import get_settings
from app.core.storage import create_storage
from app.posts.service import attachments
from worker.db import run, session_scope

SWEEP_TASK = "posts.sweep_orphan_blobs"


@shared_task(name=SWEEP_TASK, ignore_result=True)
def sweep_orphan_blobs() -> int:
    """Hourly (worker/schedule.py): deletes attachment blobs no row points at."""

    async def sweep() -> int:
        storage = create_storage(get_settings())
        async with session_scope() as session:
            return await attachments.sweep_orphan_blobs(session, storage)

    return run(sweep())

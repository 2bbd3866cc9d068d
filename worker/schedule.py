"""Celery beat's schedule: the periodic jobs of every domain, in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.config import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    hourly = 3600.0
    return {
        "outbox-relay": _every("outbox.relay", settings.outbox.relay_interval_seconds),
        "outbox-purge": _every("outbox.purge", hourly),
        # Retries and rescued attempts of webhook deliveries are due by timestamp in the
        # database; this is the clock that queues them.
        "webhooks-dispatch": _every(
            "webhooks.dispatch_due", settings.webhooks.dispatch_interval_seconds
        ),
        "webhooks-purge": _every("webhooks.purge_deliveries", hourly),
        # Attachment files whose row never committed (a failed commit, a crashed process).
        "attachments-sweep": _every("posts.sweep_orphan_blobs", hourly),
        "idempotency-keys-purge": _every("idempotency.purge", hourly),
    }


def _every(task: str, seconds: float) -> dict[str, Any]:
    # Each entry expires before the next is due: a beat that ran while no worker was up
    # doesn't leave a pile of identical jobs behind.
    return {"task": task, "schedule": timedelta(seconds=seconds), "options": {"expires": seconds}}

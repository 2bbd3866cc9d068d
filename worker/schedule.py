"""Celery beat's schedule: the periodic jobs of every domain, in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.config import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    # Each entry expires before the next is due: a beat that ran while no worker was up
    # doesn't leave a pile of identical relays behind.
    return {
        "outbox-relay": {
            "task": "outbox.relay",
            "schedule": timedelta(seconds=settings.outbox.relay_interval_seconds),
            "options": {"expires": settings.outbox.relay_interval_seconds},
        },
        "outbox-purge": {
            "task": "outbox.purge",
            "schedule": timedelta(hours=1),
            "options": {"expires": 3600},
        },
        # Retries and rescued attempts of webhook deliveries are due by timestamp in the
        # database; this is the clock that queues them.
        "webhooks-dispatch": {
            "task": "webhooks.dispatch_due",
            "schedule": timedelta(seconds=settings.webhooks.dispatch_interval_seconds),
            "options": {"expires": settings.webhooks.dispatch_interval_seconds},
        },
        "webhooks-purge": {
            "task": "webhooks.purge_deliveries",
            "schedule": timedelta(hours=1),
            "options": {"expires": 3600},
        },
        # Attachment files whose row never committed (a failed commit, a crashed process).
        "attachments-sweep": {
            "task": "posts.sweep_orphan_blobs",
            "schedule": timedelta(hours=1),
            "options": {"expires": 3600},
        },
        "idempotency-keys-purge": {
            "task": "idempotency.purge",
            "schedule": timedelta(hours=1),
            "options": {"expires": 3600},
        },
    }

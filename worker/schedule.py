"""Celery beat's schedule: the periodic jobs of every domain, in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.config import OutboxSettings


def beat_schedule(settings: OutboxSettings) -> dict[str, dict[str, Any]]:
    # Each entry expires before the next is due: a beat that ran while no worker was up
    # doesn't leave a pile of identical relays behind.
    return {
        "outbox-relay": {
            "task": "outbox.relay",
            "schedule": timedelta(seconds=settings.relay_interval_seconds),
            "options": {"expires": settings.relay_interval_seconds},
        },
        "outbox-purge": {
            "task": "outbox.purge",
            "schedule": timedelta(hours=1),
            "options": {"expires": 3600},
        },
        "idempotency-keys-purge": {
            "task": "idempotency.purge",
            "schedule": timedelta(hours=1),
            "options": {"expires": 3600},
        },
    }

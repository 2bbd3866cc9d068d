"""The Celery application: `celery -A worker.celery_app worker` / `... beat`.

Tasks live next to their domain (`app/<domain>/tasks.py`) and are autodiscovered. Reliability
defaults are set once here: late acknowledgement, redelivery when a worker dies, one message
prefetched at a time, JSON only.
"""

from __future__ import annotations

import pkgutil
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from worker import metrics as _metrics  # noqa: F401 - connects the task metric signals
from worker.schedule import beat_schedule


def _domain_packages() -> list[str]:
    """Every `app.<domain>` package; those with a `tasks` module register Celery tasks."""
    import app as app_package  # noqa: PLC0415 - the package, not the Celery `app` below

    return [
        f"app.{module.name}"
        for module in pkgutil.iter_modules(app_package.__path__)
        if module.ispkg
    ]


def create_celery(settings: Settings) -> Celery:
    broker_url = settings.celery.broker_url or settings.redis.url
    celery = Celery("reference-backend")
    celery.conf.update(
        broker_url=broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.celery.visibility_timeout_seconds,
            "global_keyprefix": f"{settings.redis.key_prefix}celery:",
        },
        # No result backend: every job records its outcome in PostgreSQL, where the API reads it.
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # At-least-once delivery: a task is acknowledged only after it finished, and a worker
        # that dies mid-task has its message redelivered. Tasks must therefore be idempotent.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.celery.worker_concurrency,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        beat_schedule=beat_schedule(),
        timezone="UTC",
        enable_utc=True,
    )
    celery.autodiscover_tasks(_domain_packages, related_name="tasks")
    return celery


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.json_logs)


app = create_celery(get_settings())

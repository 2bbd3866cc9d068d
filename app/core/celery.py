"""The Celery application's configuration, shared by the worker (consumer) and the API (producer).

The API publishes tasks too (the outbox relay's nudge), so both sides must agree on the broker,
its key prefix and the visibility timeout: they are built here, from the same settings. The
worker adds its task modules and beat schedule on top (`worker/celery_app.py`).
"""

from __future__ import annotations

from celery import Celery

from app.core.config import Settings

# A publish the API does on the request path must fail fast when the broker is down: the outbox
# keeps the event and beat relays it later.
PUBLISH_TIMEOUT_SECONDS = 2.0


def create_celery(settings: Settings, *, set_as_current: bool = False) -> Celery:
    """A Celery app for `settings`. Only the worker's is the process's current app (the one
    `shared_task`s bind to); the API's only publishes."""
    broker_url = settings.celery.broker_url or settings.redis.url
    celery = Celery("reference-backend", set_as_current=set_as_current)
    celery.conf.update(
        broker_url=broker_url,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=PUBLISH_TIMEOUT_SECONDS,
        broker_transport_options={
            "visibility_timeout": settings.celery.visibility_timeout_seconds,
            "global_keyprefix": f"{settings.redis.key_prefix}celery:",
            "socket_connect_timeout": PUBLISH_TIMEOUT_SECONDS,
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
        timezone="UTC",
        enable_utc=True,
    )
    return celery

"""The Celery worker and beat: `celery -A worker.celery_app worker` / `... beat`.

Tasks live next to their domain (`app/<domain>/tasks.py`) and are autodiscovered; the plumbing
tasks (outbox relay, purges) are in `worker/tasks.py`. Reliability defaults (late ack,
redelivery when a worker dies, one message prefetched at a time, JSON only) are set in
`app/core/celery.py`, shared with the API, which publishes too.
"""

from __future__ import annotations

import pkgutil
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init

from app.core import outbox
from app.core.celery import create_celery
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


def create_worker_app(settings: Settings) -> Celery:
    """The broker configuration of `create_celery`, plus every task and the beat schedule."""
    celery = create_celery(settings, set_as_current=True)
    celery.conf.update(include=["worker.tasks"], beat_schedule=beat_schedule(settings))
    celery.autodiscover_tasks(_domain_packages, related_name="tasks")
    return celery


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.json_logs)


@worker_init.connect
def _nudge_the_relay_after_commits(sender: Any, **_: Any) -> None:
    # Tasks write events too (order.paid); wake the relay after their commits as the API does.
    outbox.set_nudge(outbox.celery_nudge(sender.app))


app = create_worker_app(get_settings())

"""Every periodic job beat schedules is a task the worker knows: a renamed task would
otherwise leave beat queueing messages that every worker rejects as unregistered."""

from __future__ import annotations

import pytest

from app.core.config import get_settings
from worker.celery_app import create_worker_app

pytestmark = pytest.mark.checklist("perf.background-jobs")


def test_every_scheduled_job_is_a_registered_task() -> None:
    celery = create_worker_app(get_settings())
    celery.loader.import_default_modules()
    scheduled = {entry["task"] for entry in celery.conf.beat_schedule.values()}
    assert "posts.sweep_orphan_blobs" in scheduled
    assert scheduled <= set(celery.tasks), scheduled - set(celery.tasks)

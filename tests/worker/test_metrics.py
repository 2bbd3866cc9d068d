"""The worker records every task's outcome and duration, and serves them on its own port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from prometheus_client import REGISTRY

from app.core.config import get_settings
from app.devstack.embedded import free_port
from worker.celery_app import create_worker_app

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.checklist("perf.background-jobs")


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _wait_for(predicate: Any, within: float = 30) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_task_outcomes_and_durations_are_counted(celery_app: Celery, celery_worker: Any) -> None:
    labels = {"task": "outbox.purge", "outcome": "success"}
    before = _sample("celery_task_runs_total", **labels)
    celery_app.send_task("outbox.purge")
    assert _wait_for(lambda: _sample("celery_task_runs_total", **labels) > before)
    assert _sample("celery_task_runs_total", **labels) == before + 1
    assert _sample("celery_task_duration_seconds_count", task="outbox.purge") >= 1


def test_a_prefork_worker_serves_what_its_pool_processes_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    prefix = f"{os.environ['REDIS_KEY_PREFIX']}{uuid.uuid4().hex[:6]}:"
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)  # a broker queue of this test's own
    get_settings.cache_clear()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "CELERY_METRICS_PORT": str(port),
        "CELERY_WORKER_CONCURRENCY": "2",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
         "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        producer = create_worker_app(get_settings())
        producer.send_task("outbox.purge")
        counted = 'celery_task_runs_total{outcome="success",task="outbox.purge"} 1.0'

        def served() -> bool:
            try:
                return counted in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
            except httpx.HTTPError:
                return False

        assert _wait_for(served), "the pool process's task count never reached /metrics"
    finally:
        worker.terminate()
        worker.wait(timeout=15)
        get_settings.cache_clear()

"""The worker's own Prometheus metrics: task outcomes and durations, served on a port.

Tasks run in pool child processes (prefork), each with its own copy of the metrics. With
PROMETHEUS_MULTIPROC_DIR set (as `make run` and docker-compose do), the children write their
samples to files there and the main process serves the sum; without it (solo or threads pool)
the default registry is served as is. `CELERY_METRICS_PORT=0` turns the endpoint off.
"""

from __future__ import annotations

import os
import time
from typing import Any

import structlog
from celery import Task
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_shutdown
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client import multiprocess as prometheus_multiprocess

from app.core.config import get_settings
from app.core.metrics import TASK_DURATION, TASK_RUNS

logger = structlog.get_logger(__name__)
_STARTED_AT = "_metrics_started_at"


@task_prerun.connect
def _stamp_start(task: Task[Any, Any], **_: Any) -> None:
    setattr(task.request, _STARTED_AT, time.perf_counter())


@task_postrun.connect
def _record_outcome(task: Task[Any, Any], state: str | None = None, **_: Any) -> None:
    started = getattr(task.request, _STARTED_AT, None)
    TASK_RUNS.labels(task.name, (state or "unknown").lower()).inc()
    if started is not None:
        TASK_DURATION.labels(task.name).observe(time.perf_counter() - started)


@worker_init.connect
def _serve_metrics(**_: Any) -> None:
    settings = get_settings().celery
    port, host = settings.metrics_port, settings.metrics_host
    if not port:
        return
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        start_http_server(port, addr=host, registry=registry)
    else:
        start_http_server(port, addr=host)
    logger.info("worker_metrics_serving", port=port)


@worker_process_shutdown.connect
def _forget_dead_child(pid: int | None = None, **_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prometheus_multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]  # untyped in prometheus-client

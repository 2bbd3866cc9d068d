"""Prometheus metrics: every metric of the process is declared here, so a reader (and a
dashboard author) finds them in one place. `/metrics` exposes them (see issue #6 work)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CACHE_REQUESTS = Counter(
    "cache_requests_total",
    "Cache lookups by cache name and result (hit, miss, error).",
    ["cache", "result"],
)
BREAKER_STATE = Gauge(
    "circuit_breaker_open",
    "1 while a provider's circuit breaker is open or half-open.",
    ["provider"],
)
TASK_RUNS = Counter(
    "celery_task_runs_total", "Celery task executions by task and outcome.", ["task", "outcome"]
)
TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Celery task run time.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
WEBHOOK_ATTEMPTS = Counter(
    "webhook_delivery_attempts_total",
    "Outbound webhook attempts by outcome (succeeded, retrying, failed, superseded).",
    ["outcome"],
)

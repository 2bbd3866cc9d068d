"""`make run` (and `make migrate`, `make migration`) with nothing configured.

    python -m app.devstack              the whole service: API, Celery worker, Celery beat and
                                        the payment provider simulator
    python -m app.devstack alembic ...  an Alembic command against the same database
    python -m app.devstack isolation-demo   the lost-update demo of docs/guides/isolation-levels.md

With DATABASE_URL / REDIS_URL unset, embedded PostgreSQL and Redis are started with their data
under DATA_DIR (default `.data/`); with them set, those servers are used and nothing is started.
Ctrl-C (SIGINT) or SIGTERM stops the children, then the embedded servers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from alembic.config import CommandLine
from sqlalchemy.engine import make_url

from app.core.config import Settings, get_settings
from app.devstack import isolation_demo as demo
from app.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from app.devstack.migrate import alembic_config, upgrade_to_head
from app.devstack.payment_simulator import is_local
from app.devstack.seed import seed
from app.devstack.supervisor import Supervisor

READY_TIMEOUT_SECONDS = 30.0


def _say(line: str) -> None:
    print(f"{'run':<6} | {line}", flush=True)  # noqa: T201 - the launcher's console output


def _start_dependencies(stack: ExitStack, settings: Settings) -> Settings:
    """Embedded servers for whatever URL is unset; returns settings with both URLs filled in."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = settings.db.url
    if database_url is None:
        postgres = stack.enter_context(EmbeddedPostgres(data_dir / "postgres"))
        database_url = postgres.url(postgres.database)
        _say(f"DATABASE_URL is unset: started embedded PostgreSQL 16 in {postgres.data_dir}")
    redis_url = settings.redis.url
    if redis_url is None:
        redis = stack.enter_context(EmbeddedRedis(data_dir / "redis"))
        redis_url = redis.url
        _say(f"REDIS_URL is unset: started embedded Redis in {redis.data_dir}")
    _say(f"DATABASE_URL={make_url(database_url).render_as_string(hide_password=True)}")
    _say(f"REDIS_URL={make_url(redis_url).render_as_string(hide_password=True)}")
    # Children and every later get_settings() in this process see the same URLs.
    os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
    get_settings.cache_clear()
    return get_settings()


def _children(settings: Settings, data_dir: Path) -> dict[str, list[str]]:
    python = sys.executable
    # The payment provider simulator, unless PAYMENTS_BASE_URL points at a real provider.
    simulator = (
        {"payments": [python, "-m", "app.devstack.payment_simulator"]}
        if is_local(settings.payments.base_url)
        else {}
    )
    return simulator | {
        "api": [
            python, "-m", "uvicorn", "app.main:create_app", "--factory",
            "--host", settings.http.host, "--port", str(settings.http.port),
            "--no-server-header",
        ],
        "worker": [
            python, "-m", "celery", "-A", "worker.celery_app", "worker",
            "--loglevel", "INFO", "--hostname", "worker@%h",
        ],
        "beat": [
            python, "-m", "celery", "-A", "worker.celery_app", "beat", "--loglevel", "INFO",
            "--schedule", str(data_dir / "celerybeat-schedule"),
        ],
    }  # fmt: skip


def _child_env(name: str, data_dir: Path) -> dict[str, str]:
    if name != "worker":
        return {}
    # Worker pool processes share their metrics through files (see worker/metrics.py); the
    # directory must be empty at start, or a previous run's samples would be added in.
    metrics_dir = data_dir / "worker-metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}


def run() -> int:
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    started = time.monotonic()
    with ExitStack() as stack:
        settings = _start_dependencies(stack, get_settings())
        upgrade_to_head(settings.db.url or "")
        _say("migrations applied")
        for line in asyncio.run(seed(settings)):
            _say(line)

        supervisor = Supervisor(os.environ)
        stack.callback(supervisor.stop_all)
        for name, command in _children(settings, settings.data_dir.resolve()).items():
            supervisor.start(name, command, _child_env(name, settings.data_dir.resolve()))

        base = f"http://{settings.http.host}:{settings.http.port}"
        if _wait_ready(f"{base}/health/ready", stop, supervisor):
            _say(f"ready in {time.monotonic() - started:.1f}s")
            _say(f"API docs: {base}/docs")
            _say(f"health:   {base}/health/ready")
            _say("Ctrl-C stops everything.")
        while not stop.is_set():
            if (exited := supervisor.first_exited()) is not None:
                _say(f"{exited.name} exited unexpectedly; stopping everything")
                return 1
            stop.wait(0.5)
        _say("stopping...")
    _say("stopped")
    return 0


def alembic(argv: list[str]) -> int:
    """An Alembic command against DATABASE_URL, or the embedded database if it is unset."""
    with ExitStack() as stack:
        settings = _start_dependencies(stack, get_settings())
        config = alembic_config(settings.db.url or "")
        cli = CommandLine(prog="make migrate")
        options = cli.parser.parse_args(argv)
        cli.run_cmd(config, options)
    return 0


def _wait_ready(url: str, stop: threading.Event, supervisor: Supervisor) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        if supervisor.first_exited() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return True
        except OSError:
            pass
        stop.wait(0.25)
    return False


def isolation_demo() -> int:
    """docs/guides/isolation-levels.md's demo, against DATABASE_URL or the embedded database."""
    with ExitStack() as stack:
        settings = _start_dependencies(stack, get_settings())
        upgrade_to_head(settings.db.url or "")
        url = make_url(settings.db.url or "").set(drivername="postgresql")
        return demo.main(url.render_as_string(hide_password=False))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["alembic"]:
        raise SystemExit(alembic(arguments[1:]))
    if arguments[:1] == ["isolation-demo"]:
        raise SystemExit(isolation_demo())
    raise SystemExit(run())

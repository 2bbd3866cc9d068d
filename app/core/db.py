"""The database engine, the session factory and the request's unit of work.

One engine per process with an explicitly sized pool; one `async_sessionmaker`; one transaction
per request. `commit()` is called here (and in the worker's equivalent) and nowhere else: services
and repositories only `flush()`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.config import DatabaseSettings
from app.core.errors import AppError
from app.core.metrics import DB_STATEMENTS

logger = structlog.get_logger(__name__)
_AFTER_COMMIT = "after_commit_callbacks"
AfterCommit = Callable[[], Awaitable[None]]


def create_engine(
    settings: DatabaseSettings, *, read_only: bool = False, **overrides: Any
) -> AsyncEngine:
    """An engine whose pool is sized and bounded by settings, never by library defaults.

    `pool_timeout` bounds how long a request waits for a connection, so an exhausted pool or an
    unreachable database becomes a 503 within seconds instead of a hang.
    """
    url = (settings.read_url or settings.url) if read_only else settings.url
    if url is None:
        raise RuntimeError(
            "DATABASE_URL is not set. `make run` starts an embedded PostgreSQL for you; "
            "elsewhere set DATABASE_URL=postgresql+asyncpg://user:password@host/dbname."
        )
    server_settings = {"application_name": "reference-backend"}
    # PgBouncer refuses a client that sends any other startup parameter ("unsupported startup
    # parameter"): behind it, set these two on the database roles instead (docs/scaling.md).
    direct = not settings.pgbouncer
    if read_only and direct:
        # The database itself refuses writes on these connections, whatever the code does.
        server_settings["default_transaction_read_only"] = "on"
    if settings.statement_timeout_ms and direct:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    connect_args: dict[str, Any] = {
        "timeout": settings.connect_timeout,
        "server_settings": server_settings,
    }
    if settings.pgbouncer:
        # In transaction mode consecutive statements may run on different server
        # connections, where a prepared statement of ours doesn't exist: disable asyncpg's
        # and SQLAlchemy's statement caches and give each statement a unique name.
        connect_args |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4().hex}__",
        }
    options: dict[str, Any] = {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_recycle": settings.pool_recycle,
        "pool_pre_ping": settings.pool_pre_ping,
        "echo": settings.echo,
        "connect_args": connect_args,
    }
    if read_only:
        # One statement is one implicit transaction: no BEGIN and COMMIT round trips. Under
        # READ COMMITTED an explicit transaction would add nothing (each statement takes its
        # own snapshot either way), see docs/guides/isolation-levels.md.
        options["isolation_level"] = "AUTOCOMMIT"
    options.update(overrides)
    engine = create_async_engine(url, **options)
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine


def _count_statement(*_: Any) -> None:
    # Queries per request is a number worth watching (an N+1 shows up as a slope): the
    # benchmark divides this counter by the requests served.
    DB_STATEMENTS.inc()


def on_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Runs `callback` once the session's transaction has committed, never if it rolls back.

    For side effects that must not happen for a write that didn't (invalidating a cache,
    nudging a Celery relay). They are best-effort: a failure is logged, not raised, because
    the data is already committed; whatever must not be lost goes through the outbox table.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


async def commit(session: AsyncSession) -> None:
    """Commits, then runs the `on_commit` callbacks. The only commit of the API and worker."""
    await session.commit()
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            logger.warning("after_commit_callback_failed", callback=repr(callback), exc_info=True)


async def rollback(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT, None)
    await session.rollback()


def create_sessionmaker(bind: Any) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the commit that happens before the
    # response is serialized; nothing lazy-loads behind the handler's back.
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: committed once after the handler returns, rolled back on any error.

    Used with `Depends(..., scope="function")`, so the commit runs after the handler but before
    the response is sent: a failed commit becomes an error response, never a 2xx followed by
    lost data. An `AppError` with `persist_changes` commits what was flushed before it.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    session = sessionmaker()
    try:
        yield session
    except AppError as error:
        if error.persist_changes:
            await commit(session)
        else:
            await rollback(session)
        raise
    except BaseException:
        await rollback(session)
        raise
    else:
        # Every route that authenticates opens this session, but an anonymous read never
        # touches it (a session begins its transaction on first use, even on `add`). Such a
        # session has nothing to commit or release, and skipping both saves two trips through
        # SQLAlchemy's greenlet bridge on the hottest paths (docs/performance.md).
        if session.in_transaction() or session.info.get(_AFTER_COMMIT):
            await commit(session)
    finally:
        if session.in_transaction() or session.identity_map:
            await session.close()


SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for requests that only read: autocommit on a read-only connection (the
    replica at DATABASE_READ_URL if set). The hot public reads use it; anything that writes,
    even as a side effect, takes `SessionDep`."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    async with sessionmaker() as session:
        yield session


# scope="function": the connection goes back to the pool when the handler returns, not after
# the response has been sent. Under load, holding it through the send left requests queued
# for a connection for seconds (feed p99 about 1 s -> 250 ms, docs/performance.md).
ReadSessionDep = Annotated[AsyncSession, Depends(read_session, scope="function")]

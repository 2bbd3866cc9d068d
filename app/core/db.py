"""The database engine, the session factory and the request's unit of work.

One engine per process with an explicitly sized pool; one `async_sessionmaker`; one transaction
per request. `commit()` is called here (and in the worker's equivalent) and nowhere else: services
and repositories only `flush()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.config import DatabaseSettings
from app.core.errors import AppError


def create_engine(settings: DatabaseSettings, **overrides: Any) -> AsyncEngine:
    """An engine whose pool is sized and bounded by settings, never by library defaults.

    `pool_timeout` bounds how long a request waits for a connection, so an exhausted pool or an
    unreachable database becomes a 503 within seconds instead of a hang.
    """
    if settings.url is None:
        raise RuntimeError(
            "DATABASE_URL is not set. `make run` starts an embedded PostgreSQL for you; "
            "elsewhere set DATABASE_URL=postgresql+asyncpg://user:password@host/dbname."
        )
    server_settings = {"application_name": "reference-backend"}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    options: dict[str, Any] = {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_recycle": settings.pool_recycle,
        "pool_pre_ping": settings.pool_pre_ping,
        "echo": settings.echo,
        "connect_args": {
            "timeout": settings.connect_timeout,
            "server_settings": server_settings,
        },
    }
    options.update(overrides)
    return create_async_engine(settings.url, **options)


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
    async with sessionmaker() as session:
        try:
            yield session
        except AppError as error:
            if error.persist_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]

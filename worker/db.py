"""Database access inside Celery tasks, which are synchronous functions.

Celery has no asyncio support, and an asyncpg connection belongs to the event loop that opened
it. So each worker process (after fork) or thread gets its own event loop and its own small
engine, created on first use and never shared across `asyncio.run` calls or across a fork.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from celery.signals import worker_process_init, worker_process_shutdown
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import get_settings
from app.core.db import commit, create_engine, create_sessionmaker, rollback

T = TypeVar("T")


class _WorkerContext(threading.local):
    loop: asyncio.AbstractEventLoop | None = None
    engine: AsyncEngine | None = None
    sessionmaker: async_sessionmaker[AsyncSession] | None = None


_context = _WorkerContext()


def _ensure_started() -> tuple[asyncio.AbstractEventLoop, async_sessionmaker[AsyncSession]]:
    if _context.loop is None or _context.loop.is_closed():
        _context.loop = asyncio.new_event_loop()
        _context.engine = None
    if _context.engine is None or _context.sessionmaker is None:
        settings = get_settings()
        _context.engine = create_engine(
            settings.db, pool_size=settings.celery.db_pool_size, max_overflow=0
        )
        _context.sessionmaker = create_sessionmaker(_context.engine)
    return _context.loop, _context.sessionmaker


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine on this process's (or thread's) own event loop."""
    loop, _ = _ensure_started()
    return loop.run_until_complete(coroutine)


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A task's unit of work: committed once if the block succeeds, rolled back otherwise."""
    _, sessionmaker = _ensure_started()
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await rollback(session)
            raise
        else:
            await commit(session)


def shutdown() -> None:
    """Disposes this process's engine and closes its loop (worker shutdown, tests)."""
    if _context.loop is not None and not _context.loop.is_closed():
        if _context.engine is not None:
            _context.loop.run_until_complete(_context.engine.dispose())
        _context.loop.close()
    _context.loop = None
    _context.engine = None
    _context.sessionmaker = None


@worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    # A forked child must not touch the parent's connections: forget them (without closing
    # them, which would close the parent's sockets) and start fresh on first use.
    _context.loop = None
    _context.engine = None
    _context.sessionmaker = None


@worker_process_shutdown.connect
def _dispose_on_shutdown(**_: Any) -> None:
    shutdown()

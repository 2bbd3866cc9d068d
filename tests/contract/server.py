"""The app behind a real uvicorn on loopback, in a background event loop, with every request
of a test case inside a savepoint that is rolled back afterwards (per-case isolation)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.core.config import RateLimitSettings, Settings
from app.core.db import create_engine
from app.devstack.embedded import free_port
from app.main import create_app
from tests.conftest import reads_of
from tests.factories import Account, create_account

T = TypeVar("T")


class ContractServer:
    def __init__(self, settings: Settings) -> None:
        # The rate limiter would turn a long generated run into 429s: off for this suite.
        self.settings = settings.model_copy(update={"rate_limit": RateLimitSettings(enabled=False)})
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.accounts: dict[str, Account] = {}
        self._savepoint: Any = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> ContractServer:
        self._thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self.engine = create_engine(self.settings.db)
        self.connection: AsyncConnection = await self.engine.connect()
        self.transaction = await self.connection.begin()
        sessionmaker = async_sessionmaker(
            bind=self.connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        self.app: FastAPI = create_app(self.settings)
        self.lifespan = LifespanManager(self.app)
        await self.lifespan.__aenter__()
        self.app.state.sessionmaker = sessionmaker
        self.app.state.read_sessionmaker = reads_of(sessionmaker)
        self.redis = Redis.from_url(self.settings.redis.url or "")
        async with sessionmaker() as session:
            for role in ("member", "admin"):
                self.accounts[role] = await self._account(session, role)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="off", log_config=None,
            access_log=False,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.serving = asyncio.create_task(self.server.serve())
        while not self.server.started:  # noqa: ASYNC110 - uvicorn exposes only this flag
            await asyncio.sleep(0.01)

    async def _account(self, session: AsyncSession, role: str) -> Account:
        roles = ("member",) if role == "member" else ("member", role)
        return await create_account(session, self.app, roles=roles, email=f"{role}@contract.test")

    async def _stop(self) -> None:
        self.server.should_exit = True
        await self.serving
        await self.lifespan.__aexit__(None, None, None)
        await self.transaction.rollback()
        await self.connection.close()
        await self.engine.dispose()
        await self._flush_redis()
        await self.redis.aclose()

    async def _flush_redis(self) -> None:
        keys = [
            key async for key in self.redis.scan_iter(match=f"{self.settings.redis.key_prefix}*")
        ]
        if keys:
            await self.redis.delete(*keys)

    async def _begin_nested(self) -> Any:
        return await self.connection.begin_nested()

    @contextmanager
    def isolated(self) -> Iterator[None]:
        """Whatever the case writes (database rows, cached values) is undone afterwards."""
        savepoint = self.run(self._begin_nested())
        try:
            yield
        finally:
            self.run(savepoint.rollback())
            self.run(self._flush_redis())

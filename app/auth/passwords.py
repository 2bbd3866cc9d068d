"""Password hashing through the passlib API (`CryptContext`), provided by libpass.

- argon2id is the current scheme; bcrypt hashes (from an older system) still verify and are
  re-hashed with argon2id on the next successful login (`verify_and_update`).
- bcrypt only looks at the first 72 bytes of a password. Such a password is never silently
  truncated: checking one against a bcrypt hash is a plain mismatch.
- Hashing is CPU-bound (~100 ms with production parameters), so it runs in a thread with a
  bounded number at once per process: a burst of logins queues here instead of stalling the
  event loop that serves every other request. The queue is bounded in time too: past
  `AUTH_PASSWORD_HASH_WAIT_SECONDS` a caller gets a 503 with Retry-After, so a flood of
  sign-ins can't hold everyone else's in a queue longer than their clients wait.
- For an unknown email the login still verifies against a dummy hash, so "no such user" and
  "wrong password" take the same time.

See docs/adr/0003-libpass-for-password-hashing.md for libpass vs pwdlib.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from passlib.context import CryptContext

from app.core.config import AuthSettings
from app.core.errors import ServiceUnavailable

logger = structlog.get_logger(__name__)


class PasswordHasher:
    def __init__(self, settings: AuthSettings) -> None:
        self._context = CryptContext(
            schemes=["argon2", "bcrypt"],
            deprecated=["bcrypt"],
            argon2__type="ID",
            argon2__time_cost=settings.argon2_time_cost,
            argon2__memory_cost=settings.argon2_memory_kib,
            argon2__parallelism=settings.argon2_parallelism,
            bcrypt__truncate_error=True,
        )
        self._slots = asyncio.Semaphore(settings.password_hash_concurrency)
        self._wait_seconds = settings.password_hash_wait_seconds
        # Hashed with the current parameters, so verifying against it costs what a real
        # verification costs. The password it hashes is random and thrown away.
        self._dummy_hash = self._context.hash(secrets.token_urlsafe(16))

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            logger.warning("password_hashing_saturated", waited_seconds=self._wait_seconds)
            raise ServiceUnavailable(
                "Too many sign-ins at once; try again shortly.", headers={"Retry-After": "5"}
            ) from None
        try:
            yield
        finally:
            self._slots.release()

    async def hash(self, password: str) -> str:
        async with self._slot():
            return await asyncio.to_thread(self._context.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """(matches, new_hash): `new_hash` is set when the stored hash should be upgraded.

        `password_hash=None` (no such user) still spends a full verification.
        """
        async with self._slot():
            return await asyncio.to_thread(self._verify, password, password_hash)

    def _verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        if password_hash is None:
            self._context.verify(password, self._dummy_hash)
            return False, None
        try:
            matches, new_hash = self._context.verify_and_update(password, password_hash)
        except ValueError:
            # bcrypt refuses passwords over 72 bytes rather than comparing a truncation:
            # that is a mismatch, not an error. (An unknown hash format is the same.)
            logger.info("password_verify_rejected")
            return False, None
        return bool(matches), new_hash

"""Idempotency keys: a retried unsafe request returns the first answer instead of acting twice.

A client that times out on `POST /orders` can't know whether the order was placed. With an
`Idempotency-Key` header it simply retries with the same key:

- same key, same body, first request finished -> its stored response, replayed verbatim with
  `Idempotent-Replayed: true` (nothing is done again);
- same key, different body -> 422 (a client bug: one key, one operation);
- same key while the first request is still running -> 409 with `Retry-After`.

How it holds under concurrency: `begin()` takes a transaction-scoped advisory lock on
(caller, operation, key) with `pg_try_advisory_xact_lock`, which never waits; a second request
for the key while the first holds it gets 409 at once. The stored response is inserted by
`remember()` in the request's own transaction, so it commits together with the order, or
not at all: a request that fails leaves no key behind and may be retried with the same key.
The lock is released by the commit or rollback, and by PostgreSQL if the process dies, so a
crash can't leave a key stuck "in progress". Keys are scoped to the caller and expire after
`ORDERS_IDEMPOTENCY_KEY_TTL_HOURS`; a beat task purges expired rows.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError, Conflict
from app.models.idempotency import IdempotencyKey

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Printable ASCII without spaces: a UUID, a ULID or any client-made token fits.
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyKeyRequired(AppError):
    status = 400
    title = "Idempotency-Key required"
    slug = "idempotency-key-required"


class IdempotencyKeyInFlight(Conflict):
    title = "Request with this Idempotency-Key in progress"
    slug = "idempotency-key-in-flight"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )


class IdempotencyKeyReused(AppError):
    status = 422
    title = "Idempotency-Key reused with a different request"
    slug = "idempotency-key-reused"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str]

    def replay(self) -> JSONResponse:
        return JSONResponse(
            self.body, status_code=self.status, headers={**self.headers, REPLAYED_HEADER: "true"}
        )


@dataclass
class IdempotentRequest:
    """The request's claim on its key. `stored` is the response to replay, if there is one."""

    session: AsyncSession
    user_id: uuid.UUID
    scope: str
    key: str
    request_hash: str
    ttl: timedelta
    stored: StoredResponse | None = None

    async def remember(self, *, status: int, body: BaseModel, headers: dict[str, str]) -> None:
        """Stores the response in the request's transaction (so only if the request commits)."""
        self.session.add(
            IdempotencyKey(
                user_id=self.user_id,
                scope=self.scope,
                key=self.key,
                request_hash=self.request_hash,
                response_status=status,
                response_body=body.model_dump(mode="json"),
                response_headers=headers,
                expires_at=datetime.now(UTC) + self.ttl,
            )
        )
        await self.session.flush()


def request_fingerprint(body: bytes) -> str:
    """SHA-256 of the body as canonical JSON, so key order and whitespace don't matter."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body  # not JSON: the request fails validation anyway, compare raw bytes
    return hashlib.sha256(canonical).hexdigest()


async def begin(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    scope: str,
    key: str | None,
    body: bytes,
    ttl: timedelta,
) -> IdempotentRequest:
    """Claims `key` for this request, or finds the response to replay.

    Raises IdempotencyKeyRequired (400: missing or malformed), IdempotencyKeyInFlight (409:
    another request holds it), IdempotencyKeyReused (422: stored for a different body).
    """
    if key is None:
        raise IdempotencyKeyRequired(
            f"Send an {IDEMPOTENCY_HEADER} header (e.g. a UUID) so the request can be retried "
            "safely."
        )
    if not _VALID_KEY.match(key):
        raise IdempotencyKeyRequired(
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters."
        )
    lock_id = func.hashtextextended(f"idempotency:{user_id}:{scope}:{key}", 0)
    if not await session.scalar(select(func.pg_try_advisory_xact_lock(lock_id))):
        raise IdempotencyKeyInFlight
    claim = IdempotentRequest(
        session=session,
        user_id=user_id,
        scope=scope,
        key=key,
        request_hash=request_fingerprint(body),
        ttl=ttl,
    )
    row = await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
        )
    )
    if row is None:
        return claim
    if row.expires_at <= datetime.now(UTC):
        await session.delete(row)  # expired: the key is free again
        await session.flush()
        return claim
    if row.request_hash != claim.request_hash:
        raise IdempotencyKeyReused(
            f"This {IDEMPOTENCY_HEADER} was used for a different request body; use a new key "
            "for a new request."
        )
    claim.stored = StoredResponse(
        status=row.response_status, body=row.response_body, headers=row.response_headers
    )
    return claim


async def purge_expired(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Deletes expired keys; returns how many."""
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.expires_at <= (now or datetime.now(UTC)))
        .returning(IdempotencyKey.id)
    )
    return len(result.all())

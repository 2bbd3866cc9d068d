"""Keyset pagination with opaque, tamper-evident cursors.

A page is `{items, next_cursor}`. The cursor carries the sort key of the last item, signed
with HMAC so a client can't forge a position (or make the server parse attacker-shaped
values); a garbage or tampered cursor is a 422, never a 500. Keyset instead of OFFSET: page
N costs the same as page 1, and rows inserted meanwhile don't shift or duplicate items.
See docs/adr/0004-keyset-pagination.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Generic, Protocol, TypeVar

import orjson
from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from app.core.errors import AppError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1-{MAX_LIMIT}).")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page; omit for the first."),
]


class InvalidCursor(AppError):
    status = 422
    title = "Invalid cursor"
    slug = "invalid-cursor"


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _HasId(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


R = TypeVar("R", bound=_HasId)


class CursorCodec:
    """Signs and verifies cursors. `kind` binds a cursor to one listing and sort order."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, kind: str, values: list[Any]) -> str:
        payload = orjson.dumps([kind, values])
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, kind: str, cursor: str) -> list[Any]:
        try:
            payload_text, mac_text = cursor.split(".", 1)
            payload = _unb64(payload_text)
            if not hmac.compare_digest(_unb64(mac_text), self._mac(payload)):
                raise InvalidCursor("The cursor was not issued by this service.")
            cursor_kind, values = orjson.loads(payload)
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise InvalidCursor("The cursor is malformed.") from exc
        if cursor_kind != kind or not isinstance(values, list):
            raise InvalidCursor("The cursor belongs to a different listing or sort order.")
        return values

    # Most listings are ordered by id alone (UUIDv7: creation order): their cursor is the id
    # of the page's last row, and the page is fetched with one row more than it shows.

    def after_id(self, kind: str, cursor: str | None) -> uuid.UUID | None:
        """The id an id-ordered listing continues from (None for the first page)."""
        if cursor is None:
            return None
        values = self.decode(kind, cursor)
        try:
            return uuid.UUID(values[0])
        except (IndexError, TypeError, ValueError) as error:
            raise InvalidCursor("The cursor is malformed.") from error

    def id_page(self, kind: str, rows: Sequence[R], limit: int) -> tuple[list[R], str | None]:
        """A `limit + 1` fetch cut to the page, and the cursor after its last row (None at
        the end)."""
        page = list(rows[:limit])
        if len(rows) <= limit:
            return page, None
        return page, self.encode(kind, [str(page[-1].id)])


async def get_cursor_codec(request: Request) -> CursorCodec:
    # async although it awaits nothing: a sync dependency would run in the thread pool.
    codec: CursorCodec = request.app.state.cursors
    return codec


CursorCodecDep = Annotated[CursorCodec, Depends(get_cursor_codec)]

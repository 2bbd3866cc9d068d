"""Export: all of a user's posts, streamed as NDJSON or CSV with flat memory.

The rows come from a server-side cursor (`session.stream` with `yield_per`): PostgreSQL
sends `EXPORT_BATCH_ROWS` at a time and each batch is encoded and handed to the client before
the next is fetched, so memory is bounded by one batch whether there are ten posts or a
hundred thousand.

The request's unit of work commits before a streaming body is sent, so the stream opens its
own session (from the app's sessionmaker) and holds it, with one read transaction, exactly as
long as the stream lasts.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.responses import json_bytes
from app.posts import repository
from app.posts.schemas import ExportFormat

logger = structlog.get_logger(__name__)

EXPORT_BATCH_ROWS = 500
CSV_COLUMNS = ("id", "title", "status", "published_at", "created_at", "updated_at", "tags", "body")
MEDIA_TYPES = {ExportFormat.NDJSON: "application/x-ndjson", ExportFormat.CSV: "text/csv"}
# A cell starting with one of these is a formula to a spreadsheet (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def export_posts(
    sessionmaker: async_sessionmaker[AsyncSession], *, author_id: uuid.UUID, fmt: ExportFormat
) -> AsyncIterator[bytes]:
    """Every post of `author_id` (drafts too), oldest first, as encoded chunks."""
    rows = 0
    async with sessionmaker() as session:
        result = await session.stream(
            repository.export_query(author_id).execution_options(yield_per=EXPORT_BATCH_ROWS)
        )
        if fmt is ExportFormat.CSV:
            yield _csv_lines([CSV_COLUMNS])
        async for batch in result.partitions():
            rows += len(batch)
            yield _ndjson(batch) if fmt is ExportFormat.NDJSON else _csv(batch)
    logger.info("posts_exported", author_id=str(author_id), format=fmt.value, rows=rows)


def _ndjson(batch: Sequence[Row[Any]]) -> bytes:
    # Appended one line at a time: each row's bytes are freed as soon as they are copied, so
    # a batch costs its output, not its output plus every intermediate object.
    lines = bytearray()
    for row in batch:
        lines += json_bytes(row._asdict(), option=orjson.OPT_APPEND_NEWLINE)
    return bytes(lines)


def _csv(batch: Sequence[Row[Any]]) -> bytes:
    return _csv_lines(
        [
            (
                str(row.id),
                neutralize(row.title),
                row.status,
                _timestamp(row.published_at),
                _timestamp(row.created_at),
                _timestamp(row.updated_at),
                neutralize(" ".join(row.tags)),
                neutralize(row.body),
            )
            for row in batch
        ]
    )


def _timestamp(value: datetime | None) -> str:
    """As in the JSON API: ISO 8601 in UTC with a `Z`; empty for NULL."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def _csv_lines(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def neutralize(cell: str) -> str:
    """A text cell a spreadsheet won't run as a formula: a leading `'` makes it literal."""
    return f"'{cell}" if cell.startswith(_FORMULA_START) else cell

"""Attachments: bytes in blob storage, metadata in the database.

An upload is streamed into storage chunk by chunk (never held in memory), its size capped and
its SHA-256 computed on the way; only then is the metadata row written. The declared content
type must be on the allow-list *and* agree with the file's first bytes, so a script can't be
uploaded as `image/png`. Downloads stream from storage with the stored type, as an attachment
(never rendered inline) and `nosniff`.

Storage is `app.core.storage.BlobStorage`: local files by default; an S3-compatible backend is
the same five methods (see the module docstring there).
"""

from __future__ import annotations

import codecs
import unicodedata
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cache import Cache
from app.core.config import AttachmentSettings
from app.core.storage import BlobStorage, BlobTooLarge
from app.models import Attachment, Post, PostStatus
from app.models.posts import FILENAME_MAX
from app.posts import repository
from app.posts.errors import (
    AttachmentNotFound,
    AttachmentTooLarge,
    InvalidAttachment,
    UnsupportedAttachmentType,
)
from app.posts.service.access import Viewer
from app.posts.service.posts import invalidate_post_after_commit

logger = structlog.get_logger(__name__)

STORAGE_PREFIX = "attachments"
# The first bytes each binary type starts with. A type on the allow-list without an entry
# here (added by configuration) is accepted as declared.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}


@dataclass(frozen=True)
class Download:
    attachment: Attachment
    public: bool

    @property
    def etag(self) -> str:
        return f'"{self.attachment.sha256}"'

    @property
    def content_disposition(self) -> str:
        return content_disposition(self.attachment.filename)


async def add_attachment(
    session: AsyncSession,
    cache: Cache,
    storage: BlobStorage,
    settings: AttachmentSettings,
    post: Post,
    *,
    filename: str | None,
    content_type: str | None,
    chunks: AsyncIterable[bytes],
) -> Attachment:
    """Stores the upload and records it on `post` (whose write access the caller checked).

    Raises UnsupportedAttachmentType (type not allowed, or the bytes aren't of that type),
    AttachmentTooLarge (over ATTACHMENTS_MAX_BYTES; nothing is kept) and InvalidAttachment
    (empty). If the metadata can't be written, the stored bytes are deleted again.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in settings.content_types:
        raise UnsupportedAttachmentType(
            f"{media_type or 'No content type'} is not accepted; allowed: "
            f"{', '.join(settings.content_types)}."
        )
    iterator = aiter(chunks)
    first = await anext(iterator, b"")
    if not first:
        raise InvalidAttachment("The file is empty.")
    if not _looks_like(media_type, first):
        raise UnsupportedAttachmentType(f"The file's content is not {media_type}.")

    async def everything() -> AsyncIterator[bytes]:
        yield first
        async for chunk in iterator:
            yield chunk

    try:
        blob = await storage.save(STORAGE_PREFIX, everything(), max_bytes=settings.max_bytes)
    except BlobTooLarge:
        raise AttachmentTooLarge(
            f"Attachments are limited to {settings.max_bytes} bytes."
        ) from None
    attachment = Attachment(
        post_id=post.id,
        storage_key=blob.key,
        filename=safe_filename(filename),
        content_type=media_type,
        size=blob.size,
        sha256=blob.sha256,
    )
    session.add(attachment)
    try:
        await session.flush()
        # The post's detail lists its attachments, so its version (and ETag) moves.
        await repository.bump_version(session, post.id)
    except BaseException:
        await storage.delete(blob.key)
        raise
    invalidate_post_after_commit(session, cache, post.id)
    logger.info(
        "attachment_added", post_id=str(post.id), attachment_id=str(attachment.id), size=blob.size
    )
    return attachment


# An upload stores its blob, then commits its row within the same request: a blob this old
# without a row never will have one.
ORPHAN_AFTER = timedelta(hours=1)
SWEEP_BATCH = 500


async def sweep_orphan_blobs(
    session: AsyncSession, storage: BlobStorage, *, older_than: timedelta = ORPHAN_AFTER
) -> int:
    """Deletes stored attachment files that no attachment row points at, and returns how many.

    add_attachment deletes its blob when the flush fails, but not when the request's commit
    fails afterwards or the process dies between the two: those files are found here (by
    `worker/schedule.py`, hourly). Files younger than `older_than` are left alone: their row
    may be about to commit.
    """
    keys = [
        key async for key in storage.keys_older_than(STORAGE_PREFIX, older_than.total_seconds())
    ]
    deleted = 0
    for start in range(0, len(keys), SWEEP_BATCH):
        batch = keys[start : start + SWEEP_BATCH]
        referenced = await repository.referenced_storage_keys(session, batch)
        for key in batch:
            if key not in referenced:
                await storage.delete(key)
                deleted += 1
    if deleted:
        logger.warning("orphan_blobs_deleted", count=deleted, examined=len(keys))
    return deleted


async def find_download(
    session: AsyncSession, *, attachment_id: uuid.UUID, viewer: Viewer
) -> Download:
    """The attachment's metadata if the viewer may see its post. Raises AttachmentNotFound."""
    row = await repository.attachment_with_visibility(session, attachment_id)
    if row is None or not viewer.can_see(status=row.status, author_id=row.author_id):
        raise AttachmentNotFound
    return Download(attachment=row.Attachment, public=row.status == PostStatus.PUBLISHED.value)


async def open_content(storage: BlobStorage, attachment: Attachment) -> AsyncIterator[bytes]:
    """The attachment's bytes as a stream, opened before the response starts, so missing
    content is a 404 rather than a response cut off after its headers."""
    chunks = storage.open(attachment.storage_key)
    try:
        first = await anext(chunks, b"")
    except FileNotFoundError:
        # Metadata without its bytes: a storage fault worth an alert, answered as a 404.
        logger.error(  # noqa: TRY400 - the traceback says nothing the event doesn't
            "attachment_content_missing", attachment_id=str(attachment.id)
        )
        raise AttachmentNotFound from None

    async def stream() -> AsyncIterator[bytes]:
        async with aclosing(chunks):
            yield first
            async for chunk in chunks:
                yield chunk

    return stream()


def safe_filename(name: str | None) -> str:
    """The client's file name without any path, control or quoting characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>:|?*;')
    cleaned = cleaned.strip(" .")[:FILENAME_MAX]
    return cleaned or "attachment"


def content_disposition(filename: str) -> str:
    """`attachment` (never rendered inline) with an ASCII fallback and the RFC 6266/5987
    UTF-8 name, so no file name can break out of the header."""
    ascii_name = filename.encode("ascii", "ignore").decode() or "attachment"
    ascii_name = "".join(ch if ch.isalnum() or ch in " ._-()" else "_" for ch in ascii_name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _looks_like(media_type: str, head: bytes) -> bool:
    if media_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if media_type == "text/plain":
        if b"\x00" in head:
            return False
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return False
        return True
    signatures = _MAGIC.get(media_type)
    return signatures is None or head.startswith(signatures)

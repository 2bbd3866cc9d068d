"""Attachments: bytes in blob storage (never in the database), size and type limits, safe
downloads, and files deleted with their post."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import AttachmentSettings
from app.core.storage import LocalStorage
from app.main import create_app
from app.models import Attachment
from app.posts.service.attachments import STORAGE_PREFIX, sweep_orphan_blobs
from tests.conftest import ServiceUrls, make_settings, reads_of
from tests.factories import Account, create_account

POSTS = "/api/v1/posts"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


async def _post(client: httpx.AsyncClient, account: Account, status: str = "published") -> str:
    response = await client.post(
        POSTS,
        headers=account.headers,
        json={"title": "With files", "body": "See attached.", "status": status},
    )
    return str(response.json()["id"])


async def _attach(
    client: httpx.AsyncClient,
    account: Account,
    post_id: str,
    filename: str,
    content: bytes,
    content_type: str,
) -> httpx.Response:
    return await client.post(
        f"{POSTS}/{post_id}/attachments",
        headers=account.headers,
        files={"file": (filename, content, content_type)},
    )


def _stored_files(storage: LocalStorage) -> list[Path]:
    return [path for path in storage.root.rglob("*") if path.is_file()]


@pytest.mark.checklist("anti.db.blobs-in-db", "perf.resource-cleanup")
async def test_an_upload_is_stored_outside_the_database_and_streams_back(
    client: httpx.AsyncClient,
    session: AsyncSession,
    author: Account,
    blob_storage: LocalStorage,
) -> None:
    post_id = await _post(client, author)
    upload = await _attach(client, author, post_id, "diagram.png", PNG, "image/png")
    assert upload.status_code == 201, upload.text
    attachment = upload.json()
    assert upload.headers["location"] == attachment["url"]
    assert (attachment["size"], attachment["sha256"]) == (
        len(PNG),
        hashlib.sha256(PNG).hexdigest(),
    )
    [stored] = _stored_files(blob_storage)
    assert stored.read_bytes() == PNG
    byte_columns = await session.scalar(
        text(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('bytea', 'oid')"
        )
    )
    assert byte_columns == 0  # nowhere in the schema could the bytes be

    download = await client.get(attachment["url"])
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-length"] == str(len(PNG))
    assert download.headers["content-disposition"].startswith('attachment; filename="diagram.png"')
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["etag"] == f'"{attachment["sha256"]}"'
    again = await client.get(attachment["url"], headers={"If-None-Match": download.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.checklist("api.validation", "anti.sec.no-input-validation")
@pytest.mark.parametrize(
    "case",
    [
        ("tool.exe", b"MZ\x90\x00", "application/x-msdownload", 415),  # not on the allow-list
        ("fake.png", b"<script>alert(1)</script>", "image/png", 415),  # the bytes aren't PNG
        ("fake.pdf", PNG, "application/pdf", 415),
        ("binary.txt", b"\x00\x01\x02", "text/plain", 415),
        ("empty.txt", b"", "text/plain", 422),
    ],
)
async def test_uploads_must_be_of_an_allowed_type_and_really_be_of_it(
    client: httpx.AsyncClient,
    author: Account,
    blob_storage: LocalStorage,
    case: tuple[str, bytes, str, int],
) -> None:
    filename, content, content_type, status = case
    post_id = await _post(client, author)
    response = await _attach(client, author, post_id, filename, content, content_type)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert _stored_files(blob_storage) == []


@pytest.mark.parametrize("form", [{"data": {"file": "not a file"}}, {"files": {"other": b"x"}}])
async def test_the_file_must_be_the_multipart_field_file(
    client: httpx.AsyncClient, author: Account, form: dict[str, object]
) -> None:
    post_id = await _post(client, author)
    response = await client.post(
        f"{POSTS}/{post_id}/attachments",
        headers=author.headers,
        **form,  # type: ignore[arg-type]
    )
    assert response.status_code in {400, 422}


@pytest.fixture
async def small_cap_app(
    services: ServiceUrls, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[FastAPI]:
    """The app with a 4 KiB attachment limit."""
    settings = make_settings(
        services, attachments=AttachmentSettings(max_bytes=4096), blob_dir=tmp_path / "small"
    )
    application = create_app(settings)
    async with LifespanManager(application):
        application.state.sessionmaker = sessionmaker
        application.state.read_sessionmaker = reads_of(sessionmaker)
        yield application


@pytest.mark.checklist("api.validation")
async def test_an_attachment_over_the_limit_is_413_and_leaves_nothing_behind(
    small_cap_app: FastAPI, session: AsyncSession, tmp_path: Path
) -> None:
    transport = httpx.ASGITransport(app=small_cap_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        author = await create_account(session, small_cap_app)
        post_id = await _post(client, author)
        url = f"{POSTS}/{post_id}/attachments"
        just_over = await client.post(
            url, headers=author.headers, files={"file": ("big.txt", b"a" * 4097, "text/plain")}
        )
        far_over = await client.post(  # refused by Content-Length, before any parsing
            url, headers=author.headers, files={"file": ("huge.txt", b"a" * 200_000, "text/plain")}
        )
        at_limit = await client.post(
            url, headers=author.headers, files={"file": ("ok.txt", b"a" * 4096, "text/plain")}
        )
        detail = (await client.get(f"{POSTS}/{post_id}")).json()
    assert (just_over.status_code, far_over.status_code, at_limit.status_code) == (413, 413, 201)
    assert just_over.json()["type"].endswith("/attachment-too-large")
    assert [attachment["filename"] for attachment in detail["attachments"]] == ["ok.txt"]
    [kept] = [path for path in (tmp_path / "small").rglob("*") if path.is_file()]
    assert kept.read_bytes() == b"a" * 4096  # the refused uploads left no partial file


@pytest.mark.checklist("auth.consistent-authz", "anti.sec.missing-authz")
async def test_only_who_may_edit_the_post_may_attach_and_drafts_files_stay_private(
    client: httpx.AsyncClient, author: Account, reader: Account
) -> None:
    post_id = await _post(client, author)
    draft_id = await _post(client, author, status="draft")
    file = {"file": ("a.txt", b"text", "text/plain")}
    url = f"{POSTS}/{post_id}/attachments"
    assert (await client.post(url, files=file)).status_code == 401
    assert (await client.post(url, headers=reader.headers, files=file)).status_code == 403
    draft_url = f"{POSTS}/{draft_id}/attachments"
    assert (await client.post(draft_url, headers=reader.headers, files=file)).status_code == 404
    private = await client.post(draft_url, headers=author.headers, files=file)
    assert private.status_code == 201
    assert (await client.get(private.json()["url"])).status_code == 404
    own = await client.get(private.json()["url"], headers=author.headers)
    assert own.status_code == 200
    assert own.headers["cache-control"] == "private, no-cache"
    assert (await client.get(f"/api/v1/attachments/{uuid.uuid4()}")).status_code == 404


@pytest.mark.checklist("anti.sec.no-input-validation")
@pytest.mark.parametrize(
    ("sent", "stored", "disposition"),
    [
        (
            "../../etc/passwd.txt",
            "passwd.txt",
            "filename=\"passwd.txt\"; filename*=UTF-8''passwd.txt",
        ),
        (
            "résumé: final?.txt",
            "résumé final.txt",
            "filename=\"rsum final.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.txt",
        ),
        (
            "C:\\Users\\x\\notes.txt",
            "notes.txt",
            "filename=\"notes.txt\"; filename*=UTF-8''notes.txt",
        ),
    ],
)
async def test_file_names_are_stripped_of_paths_and_quoted_safely(
    client: httpx.AsyncClient, author: Account, sent: str, stored: str, disposition: str
) -> None:
    post_id = await _post(client, author)
    upload = await _attach(client, author, post_id, sent, b"plain text", "text/plain")
    assert upload.json()["filename"] == stored
    download = await client.get(upload.json()["url"])
    assert download.headers["content-disposition"] == f"attachment; {disposition}"


@pytest.mark.checklist("perf.resource-cleanup", "anti.db.blobs-in-db")
async def test_deleting_a_post_deletes_its_files_after_the_commit(
    client: httpx.AsyncClient, author: Account, blob_storage: LocalStorage
) -> None:
    post_id = await _post(client, author)
    for name in ("a.txt", "b.txt"):
        await _attach(client, author, post_id, name, b"content", "text/plain")
    assert len(_stored_files(blob_storage)) == 2
    stale = await client.delete(f"{POSTS}/{post_id}", headers=author.headers | {"If-Match": '"1"'})
    assert stale.status_code == 412  # each upload moved the version; nothing was deleted
    assert len(_stored_files(blob_storage)) == 2
    assert (await client.delete(f"{POSTS}/{post_id}", headers=author.headers)).status_code == 204
    assert _stored_files(blob_storage) == []


async def test_metadata_without_its_bytes_is_a_404_not_a_broken_response(
    client: httpx.AsyncClient, author: Account, blob_storage: LocalStorage
) -> None:
    post_id = await _post(client, author)
    upload = await _attach(client, author, post_id, "gone.txt", b"soon gone", "text/plain")
    for path in _stored_files(blob_storage):
        path.unlink()
    response = await client.get(upload.json()["url"])
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.checklist("anti.db.blobs-in-db", "perf.resource-cleanup")
async def test_files_left_without_their_row_are_swept_once_they_are_old(
    client: httpx.AsyncClient,
    session: AsyncSession,
    author: Account,
    blob_storage: LocalStorage,
) -> None:
    post_id = await _post(client, author)
    upload = await _attach(client, author, post_id, "kept.png", PNG, "image/png")
    assert upload.status_code == 201
    kept = await session.scalar(
        select(Attachment.storage_key).where(Attachment.id == upload.json()["id"])
    )
    assert kept is not None

    async def chunks() -> AsyncIterator[bytes]:
        yield PNG

    # What a failed commit or a crash leaves behind: a stored file with no row.
    old_orphan = (await blob_storage.save(STORAGE_PREFIX, chunks(), max_bytes=len(PNG))).key
    young_orphan = (await blob_storage.save(STORAGE_PREFIX, chunks(), max_bytes=len(PNG))).key
    two_hours_ago = time.time() - 7200
    for key in (kept, old_orphan):
        os.utime(blob_storage.root / key, (two_hours_ago, two_hours_ago))

    assert await sweep_orphan_blobs(session, blob_storage) == 1
    assert not await blob_storage.exists(old_orphan)
    assert await blob_storage.exists(young_orphan)  # its row may be about to commit
    download = await client.get(upload.headers["location"], headers=author.headers)
    assert (download.status_code, download.content) == (200, PNG)

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.core.storage import BlobTooLarge, LocalStorage


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.checklist("anti.db.blobs-in-db", "perf.resource-cleanup")
async def test_local_storage_round_trip_and_size_limit(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    blob = await storage.save("attachments", _chunks(b"hello ", b"world"), max_bytes=100)
    assert blob.size == 11
    assert blob.sha256 == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    assert b"".join([chunk async for chunk in storage.open(blob.key)]) == b"hello world"
    with pytest.raises(BlobTooLarge):
        await storage.save("attachments", _chunks(b"x" * 60, b"x" * 60), max_bytes=100)
    leftovers = sorted(p.name for p in (tmp_path / "attachments").iterdir())
    assert leftovers == [blob.key.split("/")[-1]]  # the oversized upload left nothing behind
    await storage.delete(blob.key)
    assert not await storage.exists(blob.key)


async def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.exists("../../etc/passwd")

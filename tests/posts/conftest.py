"""Fixtures of the posts tests: signed-in callers, and blob storage in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.storage import LocalStorage
from tests.factories import Account, create_account


@pytest.fixture(autouse=True)
def blob_storage(app: FastAPI, tmp_path: Path) -> LocalStorage:
    """Attachment bytes go to the test's temporary directory, never to DATA_DIR."""
    storage = LocalStorage(tmp_path / "blobs")
    app.state.storage = storage
    return storage


@pytest.fixture
async def author(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(session, app, full_name="Ada Author")


@pytest.fixture
async def reader(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(session, app, full_name="Rita Reader")


@pytest.fixture
async def moderator(session: AsyncSession, app: FastAPI) -> Account:
    return await create_account(
        session, app, roles=("member", "moderator"), full_name="Mo Moderator"
    )

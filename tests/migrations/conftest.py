"""pytest-alembic's fixtures: an empty database of its own and a NullPool async engine
(pytest-alembic runs `asyncio.run` per step, so no connection may outlive a step)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pytest_alembic.config import Config
from sqlalchemy import make_url, pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.devstack.migrate import alembic_config as make_alembic_config
from tests.conftest import ServiceUrls, admin_statement


@pytest.fixture
def migrations_database_url(services: ServiceUrls) -> Iterator[str]:
    url = make_url(services.database_url)
    name = f"{url.database}_migrations"
    server = url.set(database="postgres").render_as_string(hide_password=False)
    asyncio.run(admin_statement(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin_statement(server, f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    asyncio.run(admin_statement(server, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def alembic_config(migrations_database_url: str) -> Config:
    return Config(alembic_config=make_alembic_config(migrations_database_url))


@pytest.fixture
def alembic_engine(migrations_database_url: str) -> AsyncEngine:
    return create_async_engine(migrations_database_url, poolclass=pool.NullPool)

"""The isolation-levels guide's demo, run for real: its claims are checked on every CI run."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url

from app.devstack.isolation_demo import run_demo
from tests.conftest import ServiceUrls


@pytest.mark.checklist("guide.isolation-levels", "db.transactions", "anti.db.no-transactions")
async def test_the_demo_shows_a_lost_update_and_both_cures(services: ServiceUrls) -> None:
    dsn = make_url(services.database_url).set(drivername="postgresql")
    lost, locked, serializable = await run_demo(dsn.render_as_string(hide_password=False))
    assert (lost.sold, lost.stock_left, lost.oversold) == (2, 0, True)
    assert (locked.sold, locked.stock_left, locked.retries) == (1, 0, 0)
    assert (serializable.sold, serializable.stock_left, serializable.retries) == (1, 0, 1)

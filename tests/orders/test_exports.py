"""Order exports: 202 and a job at once, the CSV produced by a real worker, owner-only."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import Job
from tests.orders.factories import (
    ORDERS,
    committed_account,
    committed_session,
    create_product,
    post_order,
)
from tests.workers import eventually

EXPORTS = f"{ORDERS}/exports"


@pytest.mark.checklist(
    "perf.background-jobs",
    "anti.perf.no-background-jobs",
    "integ.message-queues",
    "anti.db.blobs-in-db",
)
async def test_an_export_is_a_job_whose_csv_is_made_by_a_worker_and_downloaded(
    *,
    committing_app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    celery_worker: Any,
) -> None:
    customer = await committed_account(committing_app)
    other = await committed_account(committing_app)
    async with committed_session(committing_app) as session:
        mug = await create_product(session, stock=50, price_amount=700)
        plate = await create_product(session, stock=50, price_amount=250)
    mine = [
        (await post_order(client, customer, [(mug, 2), (plate, 1)])).json()["id"] for _ in range(3)
    ]
    await post_order(client, other, [(mug, 1)])

    accepted = await client.post(EXPORTS, headers=customer.headers)
    assert accepted.status_code == 202
    job = accepted.json()
    assert accepted.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["status"], job["download_url"]) == ("queued", None)

    async def finished() -> bool:
        status = (await client.get(accepted.headers["location"], headers=customer.headers)).json()
        return bool(status["status"] == "succeeded")

    await eventually(finished, what="the export to finish")
    done = (await client.get(accepted.headers["location"], headers=customer.headers)).json()
    download = await client.get(done["download_url"], headers=customer.headers)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == 6  # three orders of two lines; the other customer's order isn't there
    assert {row["order_id"] for row in rows} == set(mine)
    assert sum(int(row["line_total_amount"]) for row in rows) == 3 * (2 * 700 + 250)
    assert done["result_size"] == len(download.content)
    async with engine.connect() as connection:
        stored = (await connection.execute(select(Job.result_key, Job.attempts))).one()
    assert stored.result_key.startswith("exports/")  # a key into blob storage, not the bytes
    assert stored.attempts == 1

    # Someone else's job: indistinguishable from a missing one.
    for url in (accepted.headers["location"], done["download_url"]):
        assert (await client.get(url, headers=other.headers)).status_code == 404


async def test_a_job_without_a_result_has_nothing_to_download(
    client: httpx.AsyncClient, session: Any, app: FastAPI
) -> None:
    from tests.factories import create_account  # noqa: PLC0415

    customer = await create_account(session, app)
    job = (await client.post(EXPORTS, headers=customer.headers)).json()
    response = await client.get(f"/api/v1/jobs/{job['id']}/download", headers=customer.headers)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/job-not-finished")

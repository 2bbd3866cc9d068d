"""The transactional outbox: events commit with their data and are relayed once per relay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import outbox
from app.core.db import create_sessionmaker
from app.models import OutboxEvent
from tests.conftest import truncate_all


class Recorder:
    """Stands in for the broker: records (task, event type, event id) per publish."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.published: list[tuple[str, str, str]] = []
        self.fail_on = fail_on

    def __call__(self, task_name: str, kwargs: Mapping[str, Any]) -> None:
        if kwargs["event_type"] == self.fail_on:
            raise ConnectionError("broker down")
        self.published.append((task_name, kwargs["event_type"], kwargs["event_id"]))


@pytest.fixture
def subscribed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "_subscriptions", outbox.defaultdict(list))
    outbox.subscribe("thing.happened", "audit.record")
    outbox.subscribe("thing.happened", "mail.send")
    outbox.subscribe("thing.happened", "mail.send")  # twice: still one delivery
    outbox.subscribe("other.happened", "audit.record")


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    yield engine
    await truncate_all(engine)


async def _add(session: AsyncSession, event_type: str, n: int = 1) -> list[uuid.UUID]:
    events = [
        await outbox.add_event(session, event_type, aggregate_id=uuid.uuid4(), payload={"i": i})
        for i in range(n)
    ]
    await session.flush()
    return [event.id for event in events]


@pytest.mark.checklist("integ.message-queues")
async def test_relay_publishes_each_event_to_each_subscriber_in_order_and_marks_it(
    session: AsyncSession, subscribed: None
) -> None:
    first = await _add(session, "thing.happened")
    second = await _add(session, "other.happened")
    recorder = Recorder()
    result = await outbox.relay(session, recorder, batch_size=10)
    assert (result.published, result.failed) == (2, 0)
    assert recorder.published == [
        ("audit.record", "thing.happened", str(first[0])),
        ("mail.send", "thing.happened", str(first[0])),
        ("audit.record", "other.happened", str(second[0])),
    ]
    assert await outbox.relay(session, recorder, batch_size=10) == outbox.RelayResult(0, 0)
    unpublished = await session.scalar(
        select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None))
    )
    assert unpublished is None


@pytest.mark.checklist("integ.message-queues")
async def test_a_broker_failure_leaves_that_event_and_the_later_ones_for_the_next_run(
    session: AsyncSession, subscribed: None
) -> None:
    await _add(session, "other.happened")
    await _add(session, "thing.happened")
    await _add(session, "other.happened")
    result = await outbox.relay(session, Recorder(fail_on="thing.happened"), batch_size=10)
    assert (result.published, result.failed) == (1, 2)
    retry = Recorder()
    assert (await outbox.relay(session, retry, batch_size=10)).published == 2
    assert [event_type for _, event_type, _ in retry.published] == [
        "thing.happened",
        "thing.happened",
        "other.happened",
    ]


@pytest.mark.checklist("integ.message-queues", "db.transactions")
async def test_concurrent_relays_never_publish_the_same_event_twice(
    committed: AsyncEngine, subscribed: None
) -> None:
    sessions = create_sessionmaker(committed)
    async with sessions() as session:
        await _add(session, "other.happened", n=60)
        await session.commit()
    recorders = [Recorder() for _ in range(4)]

    async def relay_until_empty(recorder: Recorder) -> None:
        while True:
            async with sessions() as session:
                result = await outbox.relay(session, recorder, batch_size=5)
                await asyncio.sleep(0.01)  # hold the row locks a moment, as a real publish does
                await session.commit()
            if result.published == 0:
                return

    await asyncio.gather(*(relay_until_empty(recorder) for recorder in recorders))
    ids = [event_id for recorder in recorders for _, _, event_id in recorder.published]
    assert len(ids) == 60
    assert len(set(ids)) == 60
    assert sum(1 for recorder in recorders if recorder.published) > 1  # they really shared


async def test_events_of_a_rolled_back_transaction_are_never_relayed(
    committed: AsyncEngine, subscribed: None
) -> None:
    sessions = create_sessionmaker(committed)
    async with sessions() as session:
        await _add(session, "thing.happened")
        await session.rollback()
    async with sessions() as session:
        assert (await outbox.relay(session, Recorder(), batch_size=10)).published == 0


async def test_published_events_are_purged_after_the_retention(session: AsyncSession) -> None:
    old, recent, pending = (await _add(session, "x.y", n=3))[:3]
    now = datetime.now(UTC)
    for event_id, published_at in ((old, now - timedelta(days=8)), (recent, now)):
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event_id).values(published_at=published_at)
        )
    assert await outbox.purge_published(session, older_than=timedelta(days=7)) == 1
    left = set((await session.scalars(select(OutboxEvent.id))).all())
    assert left == {recent, pending}

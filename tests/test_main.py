"""The application factory's process-wide settings."""

from __future__ import annotations

import gc

from asgi_lifespan import LifespanManager

from app.main import create_app
from tests.conftest import ServiceUrls, make_settings


async def test_a_running_app_collects_garbage_rarely_and_leaves_its_startup_heap_alone(
    services: ServiceUrls,
) -> None:
    # docs/performance.md: the default collector cost the feed about a quarter of its CPU.
    before = gc.get_threshold()
    application = create_app(make_settings(services, gc_threshold=12_345))
    async with LifespanManager(application):
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() > 0
    # Undone at shutdown: a process that starts many apps doesn't pin each one's objects.
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0

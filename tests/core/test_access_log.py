"""uvicorn's access log goes through the service's log pipeline, unless uvicorn was told not
to write one."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app.core.logging import configure_logging


@pytest.fixture
def access_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("uvicorn.access")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield logger
    logger.handlers, logger.propagate = handlers, propagate


def test_the_access_log_is_routed_through_the_service_pipeline(
    access_logger: logging.Logger,
) -> None:
    # As uvicorn leaves it with the access log on: its own handler, not propagating.
    access_logger.handlers, access_logger.propagate = [logging.NullHandler()], False
    configure_logging()
    assert access_logger.handlers == []
    assert access_logger.propagate
    assert access_logger.hasHandlers()  # uvicorn writes access lines only if this is true


def test_uvicorn_no_access_log_stays_off(access_logger: logging.Logger) -> None:
    # As `uvicorn --no-access-log` leaves it (uvicorn.config.Config.configure_logging).
    access_logger.handlers, access_logger.propagate = [], False
    configure_logging()
    configure_logging()  # the app factory may configure logging more than once per process
    assert not access_logger.hasHandlers()

"""Conditional requests compare ETags as RFC 9110 says: weakly for If-None-Match, strongly for
If-Match."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.core.responses import content_etag, json_bytes, match, none_match


@pytest.mark.parametrize(
    ("header", "etag", "expected"),
    [
        (None, '"3"', False),
        ('"3"', '"3"', True),
        ('W/"3"', '"3"', True),
        ('"3"', 'W/"3"', True),
        ('"1", "2" ,"3"', '"3"', True),
        ("*", '"3"', True),
        ('"4"', '"3"', False),
        ("3", '"3"', False),
    ],
)
def test_if_none_match_uses_the_weak_comparison(
    header: str | None, etag: str, expected: bool
) -> None:
    assert none_match(header, etag) is expected


@pytest.mark.parametrize(
    ("header", "etag", "expected"),
    [
        ('"3"', '"3"', True),
        ('"2", "3"', '"3"', True),
        ("*", '"3"', True),
        ('W/"3"', '"3"', False),
        ('"3"', 'W/"3"', False),
        ('"4"', '"3"', False),
    ],
)
def test_if_match_uses_the_strong_comparison(header: str, etag: str, expected: bool) -> None:
    assert match(header, etag) is expected


def test_json_bytes_writes_utc_with_z_and_any_uuid() -> None:
    class DriverUuid(uuid.UUID):
        """Like asyncpg's own UUID type: a subclass orjson doesn't serialize by itself."""

    value = DriverUuid("01900000-0000-7000-8000-000000000000")
    body = json_bytes({"id": value, "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})
    assert body == b'{"id":"01900000-0000-7000-8000-000000000000","at":"2026-01-02T03:04:05Z"}'
    assert content_etag(body) == content_etag(bytes(body))
    assert content_etag(body).startswith('W/"')

"""API versioning: what a route says when it is on its way out.

The version is the first path segment (`/api/v1`); a breaking change gets `/api/v2` mounted
next to v1, and the v1 routes it replaces announce their end with

- `Deprecation: @<unix time>` (RFC 9745): deprecated since then;
- `Sunset: <HTTP date>` (RFC 8594): it stops working then;
- `Link: <successor>; rel="successor-version"`: where to go instead.

Usage, on a v1 route replaced in v2:

    @router.get(
        "/posts",
        dependencies=[deprecated(since=..., sunset=..., successor="/api/v2/posts")],
    )

See docs/guides/rest-versioning.md for the whole policy.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import Depends, Response


def deprecated(*, since: datetime, sunset: datetime, successor: str) -> Any:
    """A route dependency adding the deprecation headers to every response of the route."""
    if sunset <= since:
        raise ValueError("sunset must come after the deprecation")
    headers = {
        "Deprecation": f"@{int(since.astimezone(UTC).timestamp())}",
        "Sunset": format_datetime(sunset.astimezone(UTC), usegmt=True),
        "Link": f'<{successor}>; rel="successor-version"',
    }

    async def announce(response: Response) -> None:
        response.headers.update(headers)

    dependency: Callable[..., Coroutine[Any, Any, None]] = announce
    return Depends(dependency)

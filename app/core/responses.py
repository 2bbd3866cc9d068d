"""Responses built from bytes, and HTTP caching: ETags, conditional requests, Cache-Control.

Hot read paths serialize once, straight to JSON bytes (orjson), and answer with those bytes,
so the same data isn't validated and serialized a second time by a `response_model`. The
bytes also give the ETag of a representation for free.

Conditional requests follow RFC 9110: `If-None-Match` uses the weak comparison (a 304 when
any listed tag matches, or `*`); `If-Match` the strong one (weak tags never match).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request, Response

JSON = "application/json"
# Cache-Control of responses that differ per caller (drafts): browsers may keep them but must
# revalidate, shared caches must not keep them.
PRIVATE = "private, no-cache"


def json_bytes(content: Any, *, option: int = 0) -> bytes:
    """JSON as the API writes it everywhere: UTC datetimes end in `Z` (like pydantic's)."""
    return orjson.dumps(content, default=_more_types, option=orjson.OPT_UTC_Z | option)


def _more_types(value: Any) -> Any:
    # asyncpg returns its own UUID subclass, which orjson (exact types only) doesn't know.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def content_etag(body: bytes) -> str:
    """A weak ETag naming these exact bytes (for representations without a version)."""
    return f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def version_etag(version: int) -> str:
    """A strong ETag from a row's version counter."""
    return f'"{version}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(if_none_match: str | None, etag: str) -> bool:
    """True if `If-None-Match` names `etag` (weak comparison): the client's copy is current."""
    if not if_none_match:
        return False
    opaque = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == opaque for tag in _tags(if_none_match))


def match(if_match: str, etag: str) -> bool:
    """True if `If-Match` names `etag` (strong comparison: weak tags never match)."""
    if etag.startswith("W/"):
        return False
    return any(tag in {"*", etag} for tag in _tags(if_match))


def cached_json(
    body: bytes,
    *,
    etag: str,
    cache_control: str,
    if_none_match: str | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """`body` as a JSON response with its validators, or an empty 304 if the client's copy
    is current (a 304 repeats ETag and Cache-Control, as RFC 9110 asks)."""
    validators = {"ETag": etag, "Cache-Control": cache_control, **(headers or {})}
    if status_code == 200 and none_match(if_none_match, etag):
        return Response(status_code=304, headers=validators)
    return Response(body, status_code=status_code, media_type=JSON, headers=validators)


IfNoneMatch = Annotated[
    str | None,
    Header(description="ETag(s) of a copy you hold: 304 Not Modified if it is still current."),
]


@dataclass(frozen=True)
class ConditionalGet:
    """A GET's caching context: the client's `If-None-Match` and the configured max-age."""

    if_none_match: str | None
    max_age: int

    def cache_control(self, *, public: bool) -> str:
        return f"public, max-age={self.max_age}" if public else PRIVATE

    def not_modified(self, etag: str) -> bool:
        return none_match(self.if_none_match, etag)

    def respond(self, body: bytes, *, public: bool, etag: str | None = None) -> Response:
        """`body` as JSON with an ETag (its content's, unless given) and Cache-Control, or a
        304 if the client's copy is current."""
        return cached_json(
            body,
            etag=etag or content_etag(body),
            cache_control=self.cache_control(public=public),
            if_none_match=self.if_none_match,
        )


async def conditional_get(request: Request, if_none_match: IfNoneMatch = None) -> ConditionalGet:
    # Dependencies that await nothing are still `async`: FastAPI runs sync ones in its thread
    # pool, a thread hop per request (the same goes for get_cache and get_blob_storage).
    return ConditionalGet(
        if_none_match=if_none_match,
        max_age=request.app.state.settings.cache.http_max_age_seconds,
    )


ConditionalGetDep = Annotated[ConditionalGet, Depends(conditional_get)]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the copy named by If-None-Match is current."}
}

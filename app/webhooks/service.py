"""Outbound webhooks as their owner manages them: endpoints (registered with a signing secret
stored encrypted, SSRF-checked URLs), their deliveries, re-enabling and redelivering.

Takes a session and plain values, flushes but never commits, raises `app.webhooks.errors`.
How deliveries are made, retried and disabled is `app/webhooks/pipeline.py` (the worker's).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.outbox import Publish
from app.core.pagination import CursorCodec
from app.core.ssrf import UrlRefused, resolve_target
from app.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.webhooks import repository
from app.webhooks.errors import (
    DeliveryInProgress,
    DeliveryNotFound,
    EndpointDisabled,
    EndpointNotFound,
    TooManyEndpoints,
    UnsafeEndpointUrl,
)
from app.webhooks.pipeline import queue_after_commit
from app.webhooks.signing import new_secret
from app.webhooks.tools import WebhookTools

logger = structlog.get_logger(__name__)

ENDPOINTS_CURSOR = "webhook-endpoints:id"


# --- endpoints ----------------------------------------------------------------------------


async def create_endpoint(
    session: AsyncSession,
    tools: WebhookTools,
    *,
    owner_id: uuid.UUID,
    url: str,
    event_types: Sequence[str],
    description: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Registers an endpoint with a new signing secret, stored encrypted. Returns the endpoint
    and the secret, the one time it exists in plain text. Raises UnsafeEndpointUrl (422: the
    URL or an address its host resolves to is refused, see app/core/ssrf.py) and
    TooManyEndpoints (409: WEBHOOKS_MAX_ENDPOINTS_PER_OWNER reached; checked under a per-owner
    lock, so concurrent requests can't overshoot it)."""
    try:
        await resolve_target(url, tools.policy, resolve=tools.resolve)
    except UrlRefused as exc:
        raise UnsafeEndpointUrl(f"This URL can't receive webhooks: {exc.reason}.") from None
    await repository.lock_owner_endpoints(session, owner_id)
    limit = tools.settings.max_endpoints_per_owner
    if await repository.count_endpoints(session, owner_id) >= limit:
        raise TooManyEndpoints(f"You have {limit} webhook endpoints already; delete one first.")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        owner_id=owner_id,
        url=url,
        event_types=list(event_types),
        description=description,
        secret_ciphertext=tools.box.encrypt(secret),
    )
    session.add(endpoint)
    await session.flush()
    # The id, never the URL: a receiver's URL may carry its own token in the query string.
    logger.info("webhook_endpoint_created", endpoint_id=str(endpoint.id), events=event_types)
    return endpoint, secret


async def get_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, owner_id: uuid.UUID
) -> WebhookEndpoint:
    """The owner's endpoint. Raises EndpointNotFound, also for another user's endpoint: its
    existence is not disclosed."""
    endpoint = await repository.get_endpoint(session, endpoint_id)
    if endpoint is None or endpoint.owner_id != owner_id:
        raise EndpointNotFound("No such webhook endpoint.")
    return endpoint


async def list_endpoints(
    session: AsyncSession,
    codec: CursorCodec,
    *,
    owner_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[WebhookEndpoint], str | None]:
    """A page of the owner's endpoints in creation order, and the next page's cursor."""
    after = codec.after_id(ENDPOINTS_CURSOR, cursor)
    endpoints = await repository.page_endpoints(
        session, owner_id=owner_id, after=after, limit=limit
    )
    return codec.id_page(ENDPOINTS_CURSOR, endpoints, limit)


async def delete_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, owner_id: uuid.UUID
) -> None:
    """Deletes the owner's endpoint and, cascading, its deliveries: nothing more is sent to it
    (an attempt already on the wire finishes, and its result is dropped). Raises
    EndpointNotFound."""
    endpoint = await get_endpoint(session, endpoint_id, owner_id=owner_id)
    await session.delete(endpoint)
    await session.flush()
    logger.info("webhook_endpoint_deleted", endpoint_id=str(endpoint_id))


async def enable_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, owner_id: uuid.UUID
) -> WebhookEndpoint:
    """Turns a disabled endpoint back on with a clean failure count; new events are delivered
    to it again (deliveries that failed meanwhile can be redelivered). Enabling an enabled
    endpoint changes nothing. Raises EndpointNotFound."""
    endpoint = await get_endpoint(session, endpoint_id, owner_id=owner_id)
    if endpoint.is_enabled:
        return endpoint
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    endpoint.consecutive_failures = 0
    await session.flush()
    await session.refresh(endpoint, ["updated_at"])
    logger.info("webhook_endpoint_enabled", endpoint_id=str(endpoint_id))
    return endpoint


# --- deliveries, as their owner sees them ---------------------------------------------------


async def list_deliveries(
    session: AsyncSession,
    codec: CursorCodec,
    *,
    endpoint_id: uuid.UUID,
    owner_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[WebhookDelivery], str | None]:
    """A page of the endpoint's deliveries, newest first, each with its attempts. Raises
    EndpointNotFound (also for another user's endpoint)."""
    await get_endpoint(session, endpoint_id, owner_id=owner_id)
    kind = f"webhook-deliveries:{endpoint_id}"  # a cursor is only good for this endpoint
    before = codec.after_id(kind, cursor)  # newest first: "after" is older
    deliveries = await repository.page_deliveries(
        session, endpoint_id=endpoint_id, before=before, limit=limit
    )
    return codec.id_page(kind, deliveries, limit)


async def redeliver(
    session: AsyncSession,
    publish: Publish,
    *,
    delivery_id: uuid.UUID,
    owner_id: uuid.UUID,
) -> WebhookDelivery:
    """Delivers a finished (succeeded or failed) delivery again: it is pending once more, with a
    fresh retry schedule, and its next attempt is queued after the commit. It carries the same
    `webhook-id`, so a receiver that processed it already can recognise it. Raises
    DeliveryNotFound (also for another user's delivery), EndpointDisabled (409: enable the
    endpoint first), DeliveryInProgress (409: it is still pending)."""
    delivery = await repository.get_delivery(session, delivery_id)
    endpoint = (
        None if delivery is None else await repository.get_endpoint(session, delivery.endpoint_id)
    )
    if delivery is None or endpoint is None or endpoint.owner_id != owner_id:
        raise DeliveryNotFound("No such webhook delivery.")
    if not endpoint.is_enabled:
        raise EndpointDisabled("The endpoint is disabled; enable it before redelivering.")
    # Only short transactions ever hold a delivery (never one open across a request to a
    # receiver), so waiting for the lock takes milliseconds.
    delivery = await repository.lock_delivery(session, delivery_id)
    if delivery is None:
        raise DeliveryNotFound("No such webhook delivery.")
    if delivery.status == DeliveryStatus.PENDING:
        raise DeliveryInProgress(
            "This delivery is still being delivered; its next attempt is due at "
            f"{_iso(delivery.next_attempt_at)}."
        )
    now = _now()
    delivery.status = DeliveryStatus.PENDING.value
    delivery.failure_reason = None
    delivery.retry_count = 0
    delivery.next_attempt_at = now
    delivery.dispatched_at = now
    await session.flush()
    queue_after_commit(session, publish, [delivery])
    logger.info("webhook_redelivery_requested", delivery_id=str(delivery_id))
    return await repository.with_attempts(session, delivery_id)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "now"

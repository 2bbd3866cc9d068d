"""/webhooks: your webhook endpoints and the deliveries made to them.

Every route needs `webhooks:manage` and sees only the caller's own endpoints and deliveries:
another user's answer 404, as if they didn't exist.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.pagination import Cursor, CursorCodecDep, Limit, Page
from app.webhooks import service
from app.webhooks.dependencies import PublisherDep, WebhookManager, WebhookToolsDep
from app.webhooks.schemas import DeliveryRead, EndpointCreate, EndpointCreated, EndpointRead

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

ENDPOINTS_PATH = "/api/v1/webhooks/endpoints"


@router.post(
    "/endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointCreated,
    responses=problem_responses(401, 403, 409, 422),
    summary="Register an endpoint; the answer holds its signing secret, shown this once",
)
async def create_endpoint(
    body: EndpointCreate,
    manager: WebhookManager,
    tools: WebhookToolsDep,
    session: SessionDep,
    response: Response,
) -> EndpointCreated:
    endpoint, secret = await service.create_endpoint(
        session,
        tools,
        owner_id=manager.user_id,
        url=str(body.url),
        event_types=body.events,
        description=body.description,
    )
    response.headers["Location"] = f"{ENDPOINTS_PATH}/{endpoint.id}"
    return EndpointCreated(**EndpointRead.model_validate(endpoint).model_dump(), secret=secret)


@router.get(
    "/endpoints",
    response_model=Page[EndpointRead],
    responses=problem_responses(401, 403, 422),
    summary="Your endpoints, in creation order",
)
async def list_endpoints(
    manager: WebhookManager,
    session: SessionDep,
    codec: CursorCodecDep,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[EndpointRead]:
    endpoints, next_cursor = await service.list_endpoints(
        session, codec, owner_id=manager.user_id, cursor=cursor, limit=limit
    )
    return Page[EndpointRead](
        items=[EndpointRead.model_validate(endpoint) for endpoint in endpoints],
        next_cursor=next_cursor,
    )


@router.get(
    "/endpoints/{endpoint_id}",
    response_model=EndpointRead,
    responses=problem_responses(401, 403, 404, 422),
    summary="One of your endpoints (never its secret)",
)
async def read_endpoint(
    endpoint_id: uuid.UUID, manager: WebhookManager, session: SessionDep
) -> EndpointRead:
    endpoint = await service.get_endpoint(session, endpoint_id, owner_id=manager.user_id)
    return EndpointRead.model_validate(endpoint)


@router.delete(
    "/endpoints/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Delete an endpoint and its delivery history; nothing more is sent to it",
)
async def delete_endpoint(
    endpoint_id: uuid.UUID, manager: WebhookManager, session: SessionDep
) -> None:
    await service.delete_endpoint(session, endpoint_id, owner_id=manager.user_id)


@router.post(
    "/endpoints/{endpoint_id}/enable",
    response_model=EndpointRead,
    responses=problem_responses(401, 403, 404, 422),
    summary="Turn a disabled endpoint back on (its failure count starts again at zero)",
)
async def enable_endpoint(
    endpoint_id: uuid.UUID, manager: WebhookManager, session: SessionDep
) -> EndpointRead:
    endpoint = await service.enable_endpoint(session, endpoint_id, owner_id=manager.user_id)
    return EndpointRead.model_validate(endpoint)


@router.get(
    "/endpoints/{endpoint_id}/deliveries",
    response_model=Page[DeliveryRead],
    responses=problem_responses(401, 403, 404, 422),
    summary="An endpoint's deliveries, newest first, with every attempt and the next retry",
)
async def list_deliveries(
    endpoint_id: uuid.UUID,
    *,
    manager: WebhookManager,
    session: SessionDep,
    codec: CursorCodecDep,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[DeliveryRead]:
    deliveries, next_cursor = await service.list_deliveries(
        session,
        codec,
        endpoint_id=endpoint_id,
        owner_id=manager.user_id,
        cursor=cursor,
        limit=limit,
    )
    return Page[DeliveryRead](
        items=[DeliveryRead.model_validate(delivery) for delivery in deliveries],
        next_cursor=next_cursor,
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Send a finished delivery again (same webhook-id, fresh retry schedule)",
)
async def redeliver(
    delivery_id: uuid.UUID, manager: WebhookManager, publish: PublisherDep, session: SessionDep
) -> DeliveryRead:
    delivery = await service.redeliver(
        session, publish, delivery_id=delivery_id, owner_id=manager.user_id
    )
    return DeliveryRead.model_validate(delivery)

"""/integrations/payments/webhook: the payment provider's signed callbacks."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.dependencies import Public
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.integrations import service
from app.integrations.dependencies import ProviderEventDep
from app.integrations.schemas import ProviderEventAck

router = APIRouter(prefix="/integrations", tags=["integrations"])


@router.post(
    "/payments/webhook",
    response_model=ProviderEventAck,
    dependencies=[Public],
    responses=problem_responses(401, 404, 422),
    summary="Payment provider callback (Standard Webhooks signature required)",
)
async def receive_payment_event(
    verified: ProviderEventDep, session: SessionDep
) -> ProviderEventAck:
    outcome = await service.handle_provider_event(
        session,
        event_id=verified.id,
        event_type=verified.event.type,
        order_id=verified.event.data.reference,
        charge_id=verified.event.data.id,
    )
    return ProviderEventAck(status=outcome)

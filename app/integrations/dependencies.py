"""The provider's callback, verified before anything reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from pydantic import ValidationError
from standardwebhooks.webhooks import WebhookVerificationError

from app.core.errors import AppError
from app.core.signatures import standard_webhook
from app.integrations.errors import InvalidSignature
from app.integrations.schemas import ProviderEvent


class MalformedEvent(AppError):
    status = 422
    title = "Malformed provider event"
    slug = "malformed-provider-event"


@dataclass(frozen=True)
class VerifiedEvent:
    id: str
    event: ProviderEvent


async def verified_provider_event(request: Request) -> VerifiedEvent:
    """The callback, if its Standard Webhooks signature is valid for our secret and its
    timestamp is within five minutes (401 otherwise: a forgery or a replay)."""
    body = await request.body()
    secret = request.app.state.settings.payments.webhook_secret.get_secret_value()
    try:
        standard_webhook(secret).verify(body, dict(request.headers), json_parse=False)
    except WebhookVerificationError:
        raise InvalidSignature("The webhook signature or timestamp is not valid.") from None
    try:
        event = ProviderEvent.model_validate_json(body)
    except ValidationError:
        raise MalformedEvent("The event body is not a payment event.") from None
    return VerifiedEvent(id=request.headers["webhook-id"], event=event)


ProviderEventDep = Annotated[VerifiedEvent, Depends(verified_provider_event)]

"""Who may call the webhook routes, and what their handlers need from the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.auth.dependencies import Perm, Principal, require
from app.core import outbox
from app.webhooks.tools import WebhookTools

WebhookManager = Annotated[Principal, Depends(require(Perm.WEBHOOKS_MANAGE))]


async def get_webhook_tools(request: Request) -> WebhookTools:
    """The secret box and egress policy of this app's settings (microseconds to build)."""
    return WebhookTools.from_settings(request.app.state.settings)


async def get_publisher(request: Request) -> outbox.Publish:
    """Publishes Celery tasks through the app's producer (the API never consumes)."""
    return outbox.celery_publisher(request.app.state.celery)


WebhookToolsDep = Annotated[WebhookTools, Depends(get_webhook_tools)]
PublisherDep = Annotated[outbox.Publish, Depends(get_publisher)]

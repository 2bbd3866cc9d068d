"""Failures of the webhook routes, as problems."""

from __future__ import annotations

from app.core.errors import AppError, Conflict, NotFound


class EndpointNotFound(NotFound):
    title = "Webhook endpoint not found"
    slug = "webhook-endpoint-not-found"


class DeliveryNotFound(NotFound):
    title = "Webhook delivery not found"
    slug = "webhook-delivery-not-found"


class UnsafeEndpointUrl(AppError):
    status = 422
    title = "Webhook URL refused"
    slug = "webhook-url-refused"


class TooManyEndpoints(Conflict):
    title = "Too many webhook endpoints"
    slug = "too-many-webhook-endpoints"


class EndpointDisabled(Conflict):
    title = "Webhook endpoint is disabled"
    slug = "webhook-endpoint-disabled"


class DeliveryInProgress(Conflict):
    title = "Webhook delivery attempt in progress"
    slug = "webhook-delivery-in-progress"

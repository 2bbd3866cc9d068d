"""Failures of the provider callbacks, as problems."""

from __future__ import annotations

from app.core.errors import NotFound, Unauthorized


class InvalidSignature(Unauthorized):
    title = "Invalid webhook signature"
    slug = "invalid-webhook-signature"


class UnknownPayment(NotFound):
    title = "Unknown payment"
    slug = "unknown-payment"

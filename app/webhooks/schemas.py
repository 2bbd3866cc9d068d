"""Request and response bodies of the webhook routes.

The signing secret appears in exactly one body, `EndpointCreated`, the answer to creating the
endpoint: it can't be read back afterwards (delete the endpoint and create another to get a new
one).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, HttpUrl, UrlConstraints, field_validator

from app.core.schemas import RequestBody, ResponseBody

# The events an endpoint may subscribe to: every order event (app.orders.service.ORDER_EVENTS;
# a test keeps the two lists equal).
EventType = Literal["order.created", "order.paid", "order.failed", "order.cancelled"]

EndpointUrl = Annotated[
    HttpUrl,
    UrlConstraints(max_length=2048),
    Field(
        examples=["https://example.com/webhooks/orders"],
        description="Where deliveries are POSTed: https, a public address (http and loopback "
        "only in dev and test). Redirects are not followed.",
    ),
]


class EndpointCreate(RequestBody):
    url: EndpointUrl
    events: list[EventType] = Field(
        min_length=1, max_length=32, description="The event types to receive."
    )
    description: str = Field(default="", max_length=200, description="A note for yourself.")

    @field_validator("events")
    @classmethod
    def _each_once(cls, events: list[EventType]) -> list[EventType]:
        if len(set(events)) != len(events):
            raise ValueError("list each event type once")
        return events


class EndpointRead(ResponseBody):
    # Read from the model by its attribute names (`event_types`), built by field names too.
    model_config = ConfigDict(from_attributes=True, validate_by_name=True)

    id: uuid.UUID
    url: str
    events: list[str] = Field(validation_alias="event_types")
    description: str
    enabled: bool = Field(
        validation_alias="is_enabled",
        description="false after it kept failing or answered 410 Gone; "
        "`POST .../enable` turns it back on.",
    )
    disabled_at: datetime | None = Field(description="When it was disabled; null if enabled.")
    disabled_reason: str | None = Field(
        examples=["failing"], description="failing | gone; null if enabled."
    )
    consecutive_failures: int = Field(
        description="Deliveries in a row that failed after every retry."
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointRead):
    secret: str = Field(
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        description="The signing secret, shown this once: store it to verify deliveries.",
    )


class AttemptRead(ResponseBody):
    number: int = Field(description="1 for the first attempt, and so on.")
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's answer; null if none came.")
    duration_ms: int
    error: str | None = Field(
        examples=["timeout"], description="Why no answer came; null if one did."
    )


class DeliveryRead(ResponseBody):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID = Field(description="Also the `webhook-id` header of every attempt.")
    event_type: str
    status: str = Field(examples=["pending"], description="pending | succeeded | failed")
    attempt_count: int
    next_attempt_at: datetime | None = Field(
        description="When the next attempt (retry) is due; null unless pending."
    )
    failure_reason: str | None = Field(
        examples=["retries_exhausted"],
        description="retries_exhausted | endpoint_gone | endpoint_disabled; null unless failed.",
    )
    attempts: list[AttemptRead]
    created_at: datetime
    updated_at: datetime

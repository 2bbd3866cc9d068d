"""The payment provider's callback body, and our answer to it."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import ResponseBody


class ProviderCharge(BaseModel):
    # The provider may add fields at any time; unknown ones are ignored, not refused.
    model_config = ConfigDict(extra="ignore")

    id: str = Field(max_length=64, description="The provider's charge id.")
    reference: uuid.UUID = Field(description="Our order id, sent when charging.")
    status: str = Field(max_length=32)


class ProviderEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=64, examples=["payment.succeeded"])
    data: ProviderCharge


class ProviderEventAck(ResponseBody):
    status: Literal["processed", "duplicate", "ignored"] = Field(
        description="duplicate: this event id was processed before; ignored: a type we don't "
        "act on. Both are answered 200 so the provider stops redelivering."
    )

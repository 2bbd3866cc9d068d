"""Request and response bodies of the catalogue, orders and jobs.

Quantities and amounts are `StrictInt`: `"3"`, `3.0` or `true` are refused, not coerced, so a
client bug can't silently order three of something. Money is an integer amount of minor units
(cents) and an ISO 4217 currency code.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictBool, StrictInt, StringConstraints, model_validator

from app.core.schemas import RequestBody, ResponseBody
from app.models import Job, JobStatus

JOBS_PATH = "/api/v1/jobs"
MAX_PRICE = 10**12
MAX_QUANTITY = 1000
MAX_STOCK = 10**9

Sku = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{0,63}$", strip_whitespace=True),
    Field(examples=["MUG-BLUE-350"], description="Upper-case letters, digits and dashes."),
]
ProductName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(examples=["EUR"], description="ISO 4217 code."),
]
Amount = Annotated[
    StrictInt, Field(ge=0, le=MAX_PRICE, description="Minor units (cents), an integer.")
]
Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]


class ProductCreate(RequestBody):
    sku: Sku
    name: ProductName
    price_amount: Amount
    currency: Currency
    stock: Stock
    is_active: StrictBool = True


class ProductUpdate(RequestBody):
    """Only the fields sent are changed; `null` is not a value any of them accepts."""

    name: ProductName | None = None
    price_amount: Amount | None = None
    currency: Currency | None = None
    stock: Stock | None = None
    is_active: StrictBool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> ProductUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        if any(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("fields can't be set to null")
        return self


class ProductRead(ResponseBody):
    id: uuid.UUID
    sku: str
    name: str
    price_amount: int
    currency: str
    stock: int = Field(description="Units available now.")
    is_active: bool
    created_at: datetime
    updated_at: datetime


class OrderLine(RequestBody):
    product_id: uuid.UUID
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


class OrderCreate(RequestBody):
    items: list[OrderLine] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _one_line_per_product(self) -> OrderCreate:
        ids = [line.product_id for line in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("each product may appear in one line only")
        return self


class OrderItemRead(ResponseBody):
    product_id: uuid.UUID
    quantity: int
    unit_price_amount: int = Field(description="The product's price when the order was placed.")


class OrderRead(ResponseBody):
    id: uuid.UUID
    customer_id: uuid.UUID
    status: str = Field(examples=["pending"], description="pending | paid | failed | cancelled")
    total_amount: int
    currency: str
    items: list[OrderItemRead]
    created_at: datetime
    updated_at: datetime


class JobRead(ResponseBody):
    """A background job; poll its URL until `status` is succeeded or failed."""

    id: uuid.UUID
    kind: str
    status: str = Field(description="queued | running | succeeded | failed")
    result_size: int | None = Field(description="Bytes of the result; null until it succeeded.")
    error: str | None = Field(description="Why it failed; null unless it failed.")
    download_url: str | None = Field(description="Where the result is; null until it succeeded.")
    created_at: datetime
    finished_at: datetime | None = Field(description="When it ended; null until then.")

    @classmethod
    def of(cls, job: Job) -> JobRead:
        done = job.status == JobStatus.SUCCEEDED
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            result_size=job.result_size,
            error=job.error,
            download_url=f"{JOBS_PATH}/{job.id}/download" if done else None,
            created_at=job.created_at,
            finished_at=job.finished_at,
        )

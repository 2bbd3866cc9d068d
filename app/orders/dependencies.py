"""Who may call the catalogue and order routes, and the idempotency claim of `POST /orders`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request

from app.auth.dependencies import Perm, Principal, require
from app.core import idempotency
from app.core.db import SessionDep
from app.core.idempotency import IDEMPOTENCY_HEADER, IdempotentRequest

PLACE_ORDER_SCOPE = "orders.place"

ProductWriter = Annotated[Principal, Depends(require(Perm.PRODUCTS_WRITE))]
OrderCustomer = Annotated[Principal, Depends(require(Perm.ORDERS_CREATE))]


async def place_order_idempotency(
    request: Request,
    session: SessionDep,
    customer: OrderCustomer,
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Required: a unique token per order (a UUID). Retrying with the same "
            "key and body replays the first response instead of ordering again.",
        ),
    ] = None,
) -> IdempotentRequest:
    """The caller's claim on the key (400 missing, 409 in flight, 422 reused for another body);
    `.stored` holds the response to replay if the order was already placed."""
    ttl_hours = request.app.state.settings.orders.idempotency_key_ttl_hours
    return await idempotency.begin(
        session,
        user_id=customer.user_id,
        scope=PLACE_ORDER_SCOPE,
        key=key,
        body=await request.body(),
        ttl=timedelta(hours=ttl_hours),
    )


PlaceOrderIdempotency = Annotated[IdempotentRequest, Depends(place_order_idempotency)]

"""/products (the catalogue) and /orders (placing, reading and cancelling orders)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse, StreamingResponse

from app.auth.dependencies import CurrentPrincipal, OptionalPrincipal, Perm
from app.core.db import ReadSessionDep, SessionDep
from app.core.errors import problem_responses
from app.core.idempotency import REPLAYED_HEADER
from app.core.pagination import Cursor, CursorCodecDep, Limit, Page
from app.core.storage import BlobStorageDep
from app.orders import exports, service
from app.orders.dependencies import (
    OrderCustomer,
    PlaceOrderIdempotency,
    ProductWriter,
)
from app.orders.schemas import (
    JOBS_PATH,
    JobRead,
    OrderCreate,
    OrderRead,
    ProductCreate,
    ProductRead,
    ProductUpdate,
)

router = APIRouter()

ORDERS_PATH = "/api/v1/orders"


def _sees_inactive(principal: OptionalPrincipal) -> bool:
    return principal is not None and principal.can(Perm.PRODUCTS_WRITE)


@router.get(
    "/products",
    tags=["products"],
    response_model=Page[ProductRead],
    responses=problem_responses(401, 422),
    summary="The catalogue, keyset paginated (inactive products only for products:write)",
)
async def list_products(
    principal: OptionalPrincipal,
    session: ReadSessionDep,
    codec: CursorCodecDep,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[ProductRead]:
    products, next_cursor = await service.list_products(
        session, codec, cursor=cursor, limit=limit, include_inactive=_sees_inactive(principal)
    )
    return Page[ProductRead](
        items=[ProductRead.model_validate(product) for product in products],
        next_cursor=next_cursor,
    )


@router.get(
    "/products/{product_id}",
    tags=["products"],
    response_model=ProductRead,
    responses=problem_responses(401, 404, 422),
    summary="A product with its current stock",
)
async def read_product(
    product_id: uuid.UUID, principal: OptionalPrincipal, session: ReadSessionDep
) -> ProductRead:
    product = await service.get_product(
        session, product_id, include_inactive=_sees_inactive(principal)
    )
    return ProductRead.model_validate(product)


@router.post(
    "/products",
    tags=["products"],
    status_code=status.HTTP_201_CREATED,
    response_model=ProductRead,
    responses=problem_responses(401, 403, 409, 422),
    summary="Add a product",
)
async def create_product(
    body: ProductCreate, writer: ProductWriter, session: SessionDep, response: Response
) -> ProductRead:
    product = await service.create_product(session, **body.model_dump())
    response.headers["Location"] = f"/api/v1/products/{product.id}"
    return ProductRead.model_validate(product)


@router.patch(
    "/products/{product_id}",
    tags=["products"],
    response_model=ProductRead,
    responses=problem_responses(401, 403, 404, 422),
    summary="Change a product's name, price, stock or availability",
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, writer: ProductWriter, session: SessionDep
) -> ProductRead:
    product = await service.update_product(session, product_id, body.model_dump(exclude_unset=True))
    return ProductRead.model_validate(product)


@router.post(
    "/orders",
    tags=["orders"],
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    responses={
        201: {
            "description": "The order, pending payment. A retry with the same Idempotency-Key "
            f"and body gets this same response again, with `{REPLAYED_HEADER}: true`.",
            "headers": {
                "Location": {"schema": {"type": "string"}, "description": "The order's URL."},
                REPLAYED_HEADER: {
                    "schema": {"type": "string", "enum": ["true"]},
                    "description": "Present on a replayed response only.",
                },
            },
        },
        **problem_responses(400, 401, 403, 409, 422),
    },
    summary="Place an order (requires an Idempotency-Key)",
)
async def place_order(
    body: OrderCreate,
    customer: OrderCustomer,
    idempotency: PlaceOrderIdempotency,
    session: SessionDep,
    response: Response,
) -> OrderRead | JSONResponse:
    if idempotency.stored is not None:
        return idempotency.stored.replay()
    order = await service.place_order(
        session,
        customer_id=customer.user_id,
        lines=[service.Line(line.product_id, line.quantity) for line in body.items],
    )
    result = OrderRead.model_validate(order)
    headers = {"Location": f"{ORDERS_PATH}/{order.id}"}
    # Stored in this transaction: the key is remembered if and only if the order commits.
    await idempotency.remember(status=status.HTTP_201_CREATED, body=result, headers=headers)
    response.headers.update(headers)
    return result


@router.get(
    "/orders",
    tags=["orders"],
    response_model=Page[OrderRead],
    responses=problem_responses(401, 422),
    summary="Your orders, newest first (everyone's with orders:read:any)",
)
async def list_orders(
    principal: CurrentPrincipal,
    session: SessionDep,
    codec: CursorCodecDep,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[OrderRead]:
    orders, next_cursor = await service.list_orders(
        session,
        codec,
        customer_id=None if principal.can(Perm.ORDERS_READ_ANY) else principal.user_id,
        cursor=cursor,
        limit=limit,
    )
    return Page[OrderRead](
        items=[OrderRead.model_validate(order) for order in orders], next_cursor=next_cursor
    )


@router.post(
    "/orders/exports",
    tags=["orders"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobRead,
    responses=problem_responses(401),
    summary="Export your orders (everyone's with orders:read:any) as CSV, in the background",
)
async def export_orders(
    principal: CurrentPrincipal, session: SessionDep, response: Response
) -> JobRead:
    job = await exports.request_export(
        session,
        owner_id=principal.user_id,
        all_customers=principal.can(Perm.ORDERS_READ_ANY),
    )
    response.headers["Location"] = f"{JOBS_PATH}/{job.id}"
    return JobRead.of(job)


@router.get(
    "/jobs/{job_id}",
    tags=["jobs"],
    response_model=JobRead,
    responses=problem_responses(401, 404, 422),
    summary="One of your background jobs: poll until it succeeded or failed",
)
async def read_job(job_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> JobRead:
    return JobRead.of(await exports.get_job(session, job_id, owner_id=principal.user_id))


@router.get(
    "/jobs/{job_id}/download",
    tags=["jobs"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The job's file."},
        **problem_responses(401, 404, 409, 422),
    },
    summary="The file a succeeded job produced",
)
async def download_job_result(
    job_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, storage: BlobStorageDep
) -> StreamingResponse:
    key = await exports.result_of(session, job_id, owner_id=principal.user_id)
    return StreamingResponse(
        storage.open(key),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="orders-{job_id}.csv"'},
    )


@router.get(
    "/orders/{order_id}",
    tags=["orders"],
    response_model=OrderRead,
    responses=problem_responses(401, 404, 422),
    summary="One of your orders (anyone's with orders:read:any)",
)
async def read_order(
    order_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> OrderRead:
    order = await service.get_order(
        session,
        order_id,
        customer_id=None if principal.can(Perm.ORDERS_READ_ANY) else principal.user_id,
    )
    return OrderRead.model_validate(order)


@router.post(
    "/orders/{order_id}/cancel",
    tags=["orders"],
    response_model=OrderRead,
    responses=problem_responses(401, 404, 409, 422),
    summary="Cancel your pending order; its stock is returned",
)
async def cancel_order(
    order_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> OrderRead:
    order = await service.cancel_order(session, order_id=order_id, customer_id=principal.user_id)
    return OrderRead.model_validate(order)

"""Paying orders: preparing a charge, recording its outcome, the provider's callbacks.

Takes a session and plain values, flushes but never commits. The provider is called *between*
transactions (by the task, `app/integrations/tasks.py`), never while a row lock or a
transaction is held open across the network.

Exactly-once charging rests on three things: the task checks the order is still pending and its
payment undecided before calling; the call carries the order id as the provider's idempotency
key, so a repeated call returns the same charge; and the outcome is applied under the payment's
row lock, idempotently (by the provider's event id for callbacks).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.integrations import repository
from app.integrations.errors import UnknownPayment
from app.integrations.provider import Charge, ChargeRequest
from app.models import Payment, PaymentStatus
from app.orders import service as orders

logger = structlog.get_logger(__name__)

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
EventOutcome = Literal["processed", "duplicate", "ignored"]


@dataclass(frozen=True)
class PreparedCharge:
    request: ChargeRequest
    placed_at: datetime
    attempt: int


async def prepare_charge(session: AsyncSession, order_id: uuid.UUID) -> PreparedCharge | None:
    """The charge to attempt for the order, or None if there is nothing to do: the order is no
    longer pending, or its payment was already decided (a redelivered task, or the callback
    came first). Counts the attempt on the payment (committed before the call is made)."""
    order = await orders.payable_order(session, order_id)
    if order is None or not order.is_pending:
        return None
    await repository.create_payment_once(
        session, order_id=order_id, amount=order.amount, currency=order.currency
    )
    payment = await repository.lock_payment_of(session, order_id)
    if payment is None or payment.status != PaymentStatus.PENDING:
        return None
    payment.attempts += 1
    await session.flush()
    return PreparedCharge(
        request=ChargeRequest(order_id=order_id, amount=order.amount, currency=order.currency),
        placed_at=order.placed_at,
        attempt=payment.attempts,
    )


async def record_charge(session: AsyncSession, order_id: uuid.UUID, charge: Charge) -> None:
    """Applies the provider's answer: the order becomes paid, or failed with its stock back."""
    payment = await repository.lock_payment_of(session, order_id)
    if payment is None:
        raise UnknownPayment(f"No payment for order {order_id}.")
    await _apply(session, payment, charge_id=charge.id, succeeded=charge.succeeded)


async def fail_payment(session: AsyncSession, order_id: uuid.UUID, *, reason: str) -> bool:
    """Gives up on paying the order (retries exhausted, provider refused, too long deferred):
    the order is failed and its stock returned. False if the payment had already succeeded."""
    payment = await repository.lock_payment_of(session, order_id)
    if payment is not None:
        if payment.status == PaymentStatus.SUCCEEDED:
            return False
        payment.status = PaymentStatus.FAILED.value
        payment.last_error = reason[:200]
        await session.flush()
    failed = await orders.mark_failed(session, order_id, reason=reason)
    logger.warning("payment_failed", order_id=str(order_id), reason=reason, order_failed=failed)
    return failed


async def handle_provider_event(
    session: AsyncSession,
    *,
    event_id: str,
    event_type: str,
    order_id: uuid.UUID,
    charge_id: str,
) -> EventOutcome:
    """Applies a (verified) provider callback once, by the provider's event id: a redelivery
    is a `duplicate` and changes nothing; a type we don't act on is `ignored`.
    Raises UnknownPayment."""
    if event_type not in (PAYMENT_SUCCEEDED, PAYMENT_FAILED):
        return "ignored"
    payment = await repository.lock_payment_of(session, order_id)
    if payment is None:
        raise UnknownPayment("No payment is known for this reference.")
    if not await repository.record_event_once(
        session, provider_event_id=event_id, event_type=event_type, payment_id=payment.id
    ):
        logger.info("provider_event_duplicate", event_id=event_id)
        return "duplicate"
    await _apply(session, payment, charge_id=charge_id, succeeded=event_type == PAYMENT_SUCCEEDED)
    return "processed"


async def _apply(
    session: AsyncSession, payment: Payment, *, charge_id: str, succeeded: bool
) -> None:
    # A charge reported after we gave up (retries ran out, the breaker's deadline passed) is
    # still recorded: the money was taken. The order stays failed, and mark_paid logs
    # `payment_for_closed_order` for an operator to refund it.
    late_charge = succeeded and payment.status == PaymentStatus.FAILED
    if payment.status != PaymentStatus.PENDING and not late_charge:
        return  # decided already (the callback and the task's own answer both arrive)
    payment.provider_reference = charge_id
    if succeeded:
        payment.status = PaymentStatus.SUCCEEDED.value
        payment.last_error = None
        await session.flush()
        await orders.mark_paid(session, payment.order_id)
    else:
        payment.status = PaymentStatus.FAILED.value
        payment.last_error = "declined"
        await session.flush()
        await orders.mark_failed(session, payment.order_id, reason="payment_declined")
    logger.info("payment_recorded", order_id=str(payment.order_id), succeeded=succeeded)

"""Every ORM model, importable from one place (Alembic's env.py imports this package).

Models live together, not in their domains, so relationships across domains (an order's
customer is a user) need no import cycles.
"""

from app.models.auth import (
    ApiKey,
    ApiKeyScope,
    AuthSession,
    Permission,
    RefreshToken,
    Role,
    RolePermission,
)
from app.models.base import Base, Entity, Timestamped
from app.models.idempotency import IdempotencyKey
from app.models.jobs import Job, JobStatus
from app.models.orders import Order, OrderItem, OrderStatus, Product
from app.models.outbox import OutboxEvent
from app.models.payments import Payment, PaymentEvent, PaymentStatus
from app.models.posts import Attachment, Comment, Post, PostStatus, PostTag, Tag
from app.models.users import User, UserRole
from app.models.webhooks import (
    DeliveryFailure,
    DeliveryStatus,
    DisabledReason,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)

__all__ = [
    "ApiKey",
    "ApiKeyScope",
    "Attachment",
    "AuthSession",
    "Base",
    "Comment",
    "DeliveryFailure",
    "DeliveryStatus",
    "DisabledReason",
    "Entity",
    "IdempotencyKey",
    "Job",
    "JobStatus",
    "Order",
    "OrderItem",
    "OrderStatus",
    "OutboxEvent",
    "Payment",
    "PaymentEvent",
    "PaymentStatus",
    "Permission",
    "Post",
    "PostStatus",
    "PostTag",
    "Product",
    "RefreshToken",
    "Role",
    "RolePermission",
    "Tag",
    "Timestamped",
    "User",
    "UserRole",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
]

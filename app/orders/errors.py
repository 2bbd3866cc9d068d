"""Failures of the catalogue and orders, as problems."""

from __future__ import annotations

from app.core.errors import AppError, Conflict, NotFound


class ProductNotFound(NotFound):
    title = "Product not found"
    slug = "product-not-found"


class SkuTaken(Conflict):
    title = "SKU already in use"
    slug = "sku-taken"


class UnknownProducts(AppError):
    status = 422
    title = "Unknown or unavailable products"
    slug = "unknown-products"


class MixedCurrencies(AppError):
    status = 422
    title = "Products in different currencies"
    slug = "mixed-currencies"


class InsufficientStock(Conflict):
    title = "Insufficient stock"
    slug = "insufficient-stock"


class OrderNotFound(NotFound):
    title = "Order not found"
    slug = "order-not-found"


class OrderNotPending(Conflict):
    title = "Order is not pending"
    slug = "order-not-pending"


class JobNotFound(NotFound):
    title = "Job not found"
    slug = "job-not-found"


class JobNotFinished(Conflict):
    title = "Job has no result"
    slug = "job-not-finished"

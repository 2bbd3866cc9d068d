"""Demo data for `make run`, created idempotently: a second run changes nothing.

Accounts: the admin (ADMIN_EMAIL, ADMIN_PASSWORD or a generated password printed once and
kept in DATA_DIR/admin-password, mode 0600), plus `member@example.com` and
`moderator@example.com` with the same password. A small catalogue (`DEMO_PRODUCTS`, by SKU),
and one demo order of the member's: it is placed here, `pending`, with its `order.created`
outbox event; once `make run` has started the worker and beat, the relay hands it to
`charge_payment`, the simulator charges it and it becomes `paid` (GET /api/v1/orders as the
member shows it).
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth
from app.core.config import Settings
from app.core.db import commit, create_engine, create_sessionmaker
from app.orders import service as orders
from app.users import service as users

ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name
DEMO_PRODUCTS = [
    # sku, name, price in cents, stock
    ("MUG-BLUE-350", "Blue mug, 350 ml", 1250, 40),
    ("MUG-WHITE-350", "White mug, 350 ml", 1150, 40),
    ("PLATE-STONE-27", "Stoneware plate, 27 cm", 1890, 25),
    ("BOWL-STONE-15", "Stoneware bowl, 15 cm", 990, 30),
    ("TEAPOT-CAST-1L", "Cast-iron teapot, 1 l", 5400, 8),
]
DEMO_CURRENCY = "EUR"
DEMO_ACCOUNTS = {
    "member@example.com": ("Demo Member", ["member"]),
    "moderator@example.com": ("Demo Moderator", ["member", "moderator"]),
}


def admin_password(settings: Settings) -> tuple[str, str | None]:
    """The admin's password and, on the run that generated it, a line saying so.

    ADMIN_PASSWORD wins; otherwise one is generated on the first run and kept, readable by its
    owner only, under DATA_DIR. It is printed to the console that one time, never logged.
    """
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value(), None
    path: Path = settings.data_dir.resolve() / ADMIN_PASSWORD_FILE
    if path.exists():
        return path.read_text().strip(), None
    password = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password, f"generated admin password (kept in {path}, mode 0600): {password}"


async def _ensure_account(
    session: AsyncSession,
    tools: auth.AuthTools,
    *,
    email: str,
    password: str,
    full_name: str,
    roles: list[str],
) -> bool:
    """Creates the account unless it exists; True if it was created."""
    if await auth.find_user_id(session, email) is not None:
        return False
    user = await auth.register(session, tools, email=email, password=password, full_name=full_name)
    await auth.set_roles(session, user=await users.get_user(session, user.id), roles=roles)
    return True


async def _ensure_products(session: AsyncSession) -> list[uuid.UUID]:
    """The demo catalogue's ids, creating the products that are missing."""
    ids = []
    for sku, name, price, stock in DEMO_PRODUCTS:
        product_id = await orders.find_product_id(session, sku)
        if product_id is None:
            product = await orders.create_product(
                session, sku=sku, name=name, price_amount=price, currency=DEMO_CURRENCY, stock=stock
            )
            product_id = product.id
        ids.append(product_id)
    return ids


async def seed(settings: Settings) -> list[str]:
    """Creates the demo data that is missing; returns lines for the console."""
    password, announcement = admin_password(settings)
    lines = [announcement] if announcement else []
    tools = auth.AuthTools.from_settings(settings.auth)
    engine = create_engine(settings.db, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            accounts = {
                settings.admin_email: ("Admin", ["member", "admin"]),
                **DEMO_ACCOUNTS,
            }
            created = [
                email
                for email, (full_name, roles) in accounts.items()
                if await _ensure_account(
                    session,
                    tools,
                    email=email,
                    password=password,
                    full_name=full_name,
                    roles=roles,
                )
            ]
            products = await _ensure_products(session)
            member = await auth.find_user_id(session, "member@example.com")
            demo_order = None
            if member is not None and not await orders.has_orders(session, member):
                demo_order = await orders.place_order(
                    session,
                    customer_id=member,
                    lines=[orders.Line(product_id, 1) for product_id in products[:2]],
                )
            await commit(session)
    finally:
        await engine.dispose()
    if created:
        lines.append(f"created demo accounts {', '.join(created)} (password: the admin's)")
    if demo_order is not None:
        lines.append(f"placed demo order {demo_order.id}: the worker pays it through the simulator")
    lines.append(f"sign in at /docs -> Authorize with {settings.admin_email}")
    return lines

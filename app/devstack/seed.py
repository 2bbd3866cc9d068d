"""Demo data for `make run`, created idempotently: a second run changes nothing.

Accounts: the admin (ADMIN_EMAIL, ADMIN_PASSWORD or a generated password printed once and
kept in DATA_DIR/admin-password, mode 0600), plus `member@example.com` and
`moderator@example.com` with the same password, and a few hundred posts by the three of them
with tags and comments (`app/devstack/demo_posts.py`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth
from app.core.config import Settings
from app.core.db import commit, create_engine, create_sessionmaker
from app.devstack.demo_posts import seed_demo_posts
from app.users import service as users

ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name
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
            author_ids = [await auth.find_user_id(session, email) for email in accounts]
            content = await seed_demo_posts(session, [user for user in author_ids if user])
            await commit(session)
    finally:
        await engine.dispose()
    if created:
        lines.append(f"created demo accounts {', '.join(created)} (password: the admin's)")
    if content:
        lines.append(
            f"created {len(content.posts)} demo posts with "
            f"{len({tag for _, tag in content.links})} tags and {len(content.comments)} comments"
        )
    lines.append(f"sign in at /docs -> Authorize with {settings.admin_email}")
    return lines

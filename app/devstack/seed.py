"""Demo data for `make run`, created idempotently: running it twice changes nothing."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from app.core.config import Settings

ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name


def admin_password(settings: Settings) -> tuple[str, str | None]:
    """The admin's password and, on the run that generated it, a line saying so.

    ADMIN_PASSWORD wins; otherwise one is generated on the first run and kept, readable by its
    owner only, under DATA_DIR. The password is never logged: only the file's location is.
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


async def seed(settings: Settings) -> list[str]:
    """Creates the demo data that is missing; returns lines for the console."""
    _, announcement = admin_password(settings)
    return [announcement] if announcement else []

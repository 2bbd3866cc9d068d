"""Small keyword-only factories. Each creates exactly what a test asks for, through the same
services the API uses, inside the test's rolled-back transaction."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth
from app.models import User
from app.users import service as users

DEFAULT_PASSWORD = "correct horse battery staple"
_sequence = itertools.count(1)


@dataclass(frozen=True)
class Account:
    user: User
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def create_account(
    session: AsyncSession,
    app: FastAPI,
    *,
    roles: tuple[str, ...] = ("member",),
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    full_name: str = "Test User",
) -> Account:
    """A registered user with `roles`, signed in (a live session and a token pair)."""
    tools = app.state.auth
    email = email or f"user{next(_sequence)}@example.com"
    user = await auth.register(session, tools, email=email, password=password, full_name=full_name)
    if roles != ("member",):
        loaded = await users.get_user(session, user.id)
        await auth.set_roles(session, user=loaded, roles=list(roles))
    pair = await auth.login(session, tools, email=email, password=password)
    await session.commit()
    return Account(
        user=user,
        email=email,
        password=password,
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
    )


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": email, "password": password})

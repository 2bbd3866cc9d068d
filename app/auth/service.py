"""Identity rules: registration, sign-in, token rotation, revocation, API keys, roles.

Takes a session and plain values, flushes but never commits, raises `app.auth.errors`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth.errors import (
    ApiKeyAlreadyRotated,
    EmailAlreadyRegistered,
    InvalidCredentials,
    NotAuthenticated,
    RefreshTokenInvalid,
    RefreshTokenReused,
    UnknownPermission,
    WrongCurrentPassword,
)
from app.auth.passwords import PasswordHasher
from app.auth.permissions import RoleName
from app.auth.principal import Principal
from app.auth.tokens import (
    InvalidToken,
    TokenCodec,
    api_key_matches,
    api_key_prefix,
    hash_api_key,
    hash_refresh_token,
    new_api_key,
    new_refresh_token,
)
from app.core.config import AuthSettings
from app.core.errors import NotFound
from app.core.ratelimit import Budget, RateLimiter, account_key
from app.models import ApiKey, AuthSession, Permission, RefreshToken, User

logger = structlog.get_logger(__name__)

API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)
ADMIN_ROLE = RoleName.ADMIN.value


@dataclass(frozen=True)
class AuthTools:
    """What the auth rules need besides the database; built once per process (lifespan).

    `limiter` (optional, so scripts and tests can sign in without Redis) throttles failed
    sign-ins per account.
    """

    settings: AuthSettings
    hasher: PasswordHasher
    tokens: TokenCodec
    limiter: RateLimiter | None = None

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, *, limiter: RateLimiter | None = None
    ) -> AuthTools:
        return cls(
            settings=settings,
            hasher=PasswordHasher(settings),
            tokens=TokenCodec(settings),
            limiter=limiter,
        )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def _now() -> datetime:
    return datetime.now(UTC)


def normalize_email(email: str) -> str:
    return email.strip().lower()


# --- registration and sign-in -------------------------------------------------------------


async def find_user_id(session: AsyncSession, email: str) -> uuid.UUID | None:
    user = await repository.user_by_email(session, normalize_email(email))
    return user.id if user else None


async def register(
    session: AsyncSession, tools: AuthTools, *, email: str, password: str, full_name: str
) -> User:
    """Creates an active `member`. Raises EmailAlreadyRegistered (case-insensitively).

    Uniqueness is left to the database's unique constraint: a check-then-insert would let two
    concurrent registrations of one address both pass the check.
    """
    user = User(
        email=normalize_email(email),
        full_name=full_name,
        password_hash=await tools.hasher.hash(password),
    )
    member = await repository.roles_by_name(session, [RoleName.MEMBER])
    user.roles = member
    session.add(user)
    try:
        await session.flush()
    except sa_exc.IntegrityError as error:
        if getattr(error.orig, "constraint_name", None) == "uq_users_email" or (
            "uq_users_email" in str(error.orig)
        ):
            raise EmailAlreadyRegistered("An account with this email already exists.") from None
        raise
    logger.info("user_registered", user_id=str(user.id))
    return user


async def _start_session(
    session: AsyncSession, tools: AuthTools, *, user_id: uuid.UUID, now: datetime
) -> TokenPair:
    auth_session = AuthSession(
        user_id=user_id, expires_at=now + timedelta(days=tools.settings.refresh_token_ttl_days)
    )
    session.add(auth_session)
    await session.flush()
    return await _issue_pair(session, tools, auth_session=auth_session, now=now)


async def _issue_pair(
    session: AsyncSession, tools: AuthTools, *, auth_session: AuthSession, now: datetime
) -> TokenPair:
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=hash_refresh_token(refresh),
            expires_at=auth_session.expires_at,
        )
    )
    await session.flush()
    access = tools.tokens.issue_access(
        user_id=auth_session.user_id, session_id=auth_session.id, now=now
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(tools.tokens.access_ttl.total_seconds()),
    )


async def login(session: AsyncSession, tools: AuthTools, *, email: str, password: str) -> TokenPair:
    """A new session for valid credentials. Raises InvalidCredentials, identically (same
    response, same time) for an unknown email, a wrong password and a deactivated account;
    RateLimited once an account has had too many failed attempts (RATE_LIMIT_AUTH_ACCOUNT),
    even with the right password, so guessing one account from many IPs is bounded too."""
    budget = (
        Budget(
            limit=tools.limiter.settings.auth_account,
            key=account_key(email),
            scope="auth-account",
        )
        if tools.limiter
        else None
    )
    if tools.limiter and budget:
        await tools.limiter.ensure_available(budget)
    user = await repository.user_by_email(session, normalize_email(email))
    matches, upgraded_hash = await tools.hasher.verify(
        password, user.password_hash if user else None
    )
    if user is None or not matches or not user.is_active:
        logger.info("login_failed")
        if tools.limiter and budget:
            await tools.limiter.hit(budget, fallback=True)
        raise InvalidCredentials
    if upgraded_hash is not None:
        user.password_hash = upgraded_hash
        logger.info("password_hash_upgraded", user_id=str(user.id))
    pair = await _start_session(session, tools, user_id=user.id, now=_now())
    logger.info("login_succeeded", user_id=str(user.id))
    return pair


async def refresh(session: AsyncSession, tools: AuthTools, *, refresh_token: str) -> TokenPair:
    """Exchanges a refresh token for a new pair; the old token stops working.

    Presenting a token that was already exchanged means two parties hold it: the whole
    session is revoked (RefreshTokenReused, committed), so the thief's and the victim's next
    refresh both fail and the user signs in again.
    """
    now = _now()
    token_hash = hash_refresh_token(refresh_token)
    session_id = await repository.consume_refresh_token(session, token_hash=token_hash, now=now)
    if session_id is None:
        known = await repository.refresh_token_by_hash(session, token_hash)
        if known is not None and known.used_at is not None:
            await repository.revoke_sessions(
                session, session_id=known.session_id, reason="reuse_detected", now=now
            )
            logger.warning("refresh_token_reuse_detected", session_id=str(known.session_id))
            raise RefreshTokenReused
        raise RefreshTokenInvalid("The refresh token is invalid or expired.")
    user_id = await repository.live_session_owner(session, session_id=session_id, now=now)
    if user_id is None:
        raise RefreshTokenInvalid("The session has ended; sign in again.")
    auth_session = await session.get_one(AuthSession, session_id)
    return await _issue_pair(session, tools, auth_session=auth_session, now=now)


async def logout(session: AsyncSession, principal: Principal) -> None:
    """Ends the caller's session: its refresh tokens and access tokens stop working."""
    if principal.session_id is not None:
        await repository.revoke_sessions(
            session, session_id=principal.session_id, reason="logout", now=_now()
        )


async def revoke_all_sessions(session: AsyncSession, *, user_id: uuid.UUID, reason: str) -> None:
    await repository.revoke_sessions(session, user_id=user_id, reason=reason, now=_now())


async def change_password(
    session: AsyncSession,
    tools: AuthTools,
    *,
    user_id: uuid.UUID,
    current_password: str,
    new_password: str,
) -> None:
    """Sets a new password and revokes every session of the user (this one included)."""
    user = await session.get_one(User, user_id)
    matches, _ = await tools.hasher.verify(current_password, user.password_hash)
    if not matches:
        raise WrongCurrentPassword("The current password is incorrect.")
    user.password_hash = await tools.hasher.hash(new_password)
    await revoke_all_sessions(session, user_id=user_id, reason="password_changed")
    logger.info("password_changed", user_id=str(user_id))


# --- authentication of requests ----------------------------------------------------------


async def authenticate_token(session: AsyncSession, tools: AuthTools, token: str) -> Principal:
    """The principal behind an access token. Raises NotAuthenticated for a bad token, an
    ended session or a deactivated user: each is checked on every request, so revocation
    takes effect at once, not when the token expires."""
    try:
        claims = tools.tokens.decode_access(token)
    except InvalidToken:
        raise NotAuthenticated("The access token is invalid or expired.") from None
    row = await repository.session_principal(
        session, user_id=claims.user_id, session_id=claims.session_id, now=_now()
    )
    if row is None or not row.is_active or not row.session_live:
        raise NotAuthenticated("The session has ended; sign in again.")
    return Principal(
        user_id=claims.user_id,
        roles=frozenset(row.roles),
        permissions=frozenset(row.permissions),
        via="token",
        session_id=claims.session_id,
    )


async def authenticate_api_key(session: AsyncSession, tools: AuthTools, key: str) -> Principal:
    """The principal behind an API key: its owner, with the owner's permissions narrowed to
    the key's scopes. Raises NotAuthenticated for a malformed, unknown, revoked, expired or
    rotated-out key, or a deactivated owner."""
    prefix = api_key_prefix(key)
    row = await repository.api_key_principal(session, prefix=prefix) if prefix else None
    pepper = tools.settings.api_key_pepper.get_secret_value()
    now = _now()
    if (
        row is None
        or not api_key_matches(key, row.key.key_hash, pepper)
        or row.key.revoked_at is not None
        or (row.key.expires_at is not None and row.key.expires_at <= now)
        or not row.owner_active
    ):
        raise NotAuthenticated("The API key is invalid, expired or revoked.")
    await repository.touch_api_key(
        session, key_id=row.key.id, now=now, interval=API_KEY_TOUCH_INTERVAL
    )
    return Principal(
        user_id=row.key.user_id,
        roles=frozenset(row.roles),
        permissions=frozenset(row.owner_permissions) & frozenset(row.scopes),
        via="api_key",
        api_key_id=row.key.id,
    )


# --- API keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    key: str


async def create_api_key(
    session: AsyncSession,
    tools: AuthTools,
    *,
    owner: Principal,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> IssuedApiKey:
    """A new key; the plain key exists only in the returned value (shown to the caller once).

    Raises UnknownPermission if a scope doesn't exist or isn't granted to the owner.
    """
    granted = await repository.user_permissions(session, owner.user_id)
    ungranted = sorted(set(scopes) - granted)
    if ungranted:
        raise UnknownPermission(f"Scopes not granted to you: {', '.join(ungranted)}.")
    permissions = await repository.permissions_by_name(session, sorted(set(scopes)))
    return await _insert_key(
        session, tools, user_id=owner.user_id, name=name, scopes=permissions, expires_at=expires_at
    )


async def _insert_key(
    session: AsyncSession,
    tools: AuthTools,
    *,
    user_id: uuid.UUID,
    name: str,
    scopes: Sequence[Permission],
    expires_at: datetime | None,
) -> IssuedApiKey:
    fresh = new_api_key()
    api_key = ApiKey(
        user_id=user_id,
        name=name,
        prefix=fresh.prefix,
        key_hash=hash_api_key(fresh.key, tools.settings.api_key_pepper.get_secret_value()),
        expires_at=expires_at,
    )
    api_key.scopes = list(scopes)
    session.add(api_key)
    await session.flush()
    logger.info("api_key_created", api_key_id=str(api_key.id), prefix=fresh.prefix)
    return IssuedApiKey(api_key=api_key, key=fresh.key)


async def list_api_keys(session: AsyncSession, owner: Principal) -> list[ApiKey]:
    return await repository.api_keys_of(session, owner.user_id)


async def rotate_api_key(
    session: AsyncSession, tools: AuthTools, *, owner: Principal, key_id: uuid.UUID
) -> IssuedApiKey:
    """A replacement key with the same name, scopes and expiry. The old key keeps working for
    the grace period (AUTH_API_KEY_ROTATION_GRACE_HOURS) so deployments can switch over.
    Raises NotFound (also for another user's key) or ApiKeyAlreadyRotated."""
    old = await repository.owned_api_key(
        session, key_id=key_id, user_id=owner.user_id, for_update=True
    )
    if old is None or old.revoked_at is not None:
        raise NotFound("No such API key.")
    if old.replaced_by_id is not None:
        raise ApiKeyAlreadyRotated("This key was already rotated; rotate its replacement.")
    now = _now()
    grace_end = now + timedelta(hours=tools.settings.api_key_rotation_grace_hours)
    issued = await _insert_key(
        session,
        tools,
        user_id=owner.user_id,
        name=old.name,
        scopes=list(old.scopes),
        expires_at=old.expires_at,
    )
    old.replaced_by_id = issued.api_key.id
    old.expires_at = min(old.expires_at, grace_end) if old.expires_at else grace_end
    await session.flush()
    return issued


async def revoke_api_key(session: AsyncSession, *, owner: Principal, key_id: uuid.UUID) -> None:
    """Revokes at once. Raises NotFound (also for another user's key)."""
    key = await repository.owned_api_key(session, key_id=key_id, user_id=owner.user_id)
    if key is None or key.revoked_at is not None:
        raise NotFound("No such API key.")
    key.revoked_at = _now()
    await session.flush()
    logger.info("api_key_revoked", api_key_id=str(key.id))


# --- roles ---------------------------------------------------------------------------------


async def set_roles(session: AsyncSession, *, user: User, roles: list[str]) -> list[str]:
    """Replaces a user's roles (`user.roles` must be loaded). Raises UnknownPermission for a
    role that doesn't exist."""
    found = await repository.roles_by_name(session, sorted(set(roles)))
    missing = sorted(set(roles) - {role.name for role in found})
    if missing:
        raise UnknownPermission(f"Unknown roles: {', '.join(missing)}.")
    user.roles = found
    await session.flush()
    return sorted(role.name for role in found)

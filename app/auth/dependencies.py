"""Authentication and authorization as FastAPI dependencies: every route's policy.

Each route states its policy in its signature, through exactly one of:

- `Public` (in `dependencies=[...]`), or `OptionalPrincipal` when the route wants to know
  who calls: anyone, signed in or not (a credential that is sent must still be valid);
- `CurrentPrincipal`: any authenticated caller (bearer token or `X-API-Key`);
- `Annotated[Principal, Depends(require(Perm.X))]`: an authenticated caller holding X
  (domains name these aliases in their own `dependencies.py`).

Ownership (a member may edit *their* post) is checked on top by each domain's loader
dependencies, which answer 404 for objects the caller may not see. A test walks every route
of the app and fails if one states no policy.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from app.auth import service
from app.auth.errors import NotAuthenticated, PermissionDenied
from app.auth.permissions import Perm, RoleName
from app.auth.principal import Principal
from app.auth.service import AuthTools
from app.core.db import SessionDep
from app.core.ratelimit import Budget, RateLimiter, client_ip

__all__ = [
    "AuthRateLimit",
    "AuthToolsDep",
    "CurrentPrincipal",
    "OptionalPrincipal",
    "Perm",
    "Principal",
    "Public",
    "RoleName",
    "is_policy",
    "require",
]

POLICY_ATTRIBUTE = "__route_policy__"

bearer_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token", auto_error=False, scheme_name="bearer"
)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="api_key")


F = TypeVar("F", bound=Callable[..., Coroutine[Any, Any, Any]])


def _policy(function: F) -> F:
    setattr(function, POLICY_ATTRIBUTE, True)
    return function


def is_policy(call: object) -> bool:
    return bool(getattr(call, POLICY_ATTRIBUTE, False))


async def get_auth_tools(request: Request) -> AuthTools:
    # async although it awaits nothing: FastAPI runs a sync dependency in its thread pool,
    # a thread hop on every request of every route that authenticates.
    tools: AuthTools = request.app.state.auth
    return tools


AuthToolsDep = Annotated[AuthTools, Depends(get_auth_tools)]


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.ratelimiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
ELEVATED_ROLES = frozenset({RoleName.MODERATOR.value, RoleName.ADMIN.value})


def _default_budget(request: Request, limiter: RateLimiter, principal: Principal | None) -> Budget:
    settings = limiter.settings
    if principal is None:
        ip = client_ip(request, limiter.trusted_proxies)
        return Budget(limit=settings.default, key=f"ip:{ip}", scope="api")
    limit = settings.elevated if principal.roles & ELEVATED_ROLES else settings.default
    return Budget(limit=limit, key=principal.rate_limit_key, scope="api")


async def auth_rate_limit(request: Request, response: Response, limiter: RateLimiterDep) -> None:
    """The stricter per-IP budget of sign-in, sign-up, refresh and password change. It keeps
    counting in process memory if Redis is down: these routes are never left unthrottled."""
    ip = client_ip(request, limiter.trusted_proxies)
    budget = Budget(limit=limiter.settings.auth, key=f"ip:{ip}", scope="auth")
    await limiter.hit(budget, response, fallback=True)


AuthRateLimit = Depends(auth_rate_limit)


@_policy
async def public(
    request: Request,
    response: Response,
    session: SessionDep,
    token: Annotated[str | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal | None:
    """Anyone may call this route: the caller if a (valid) credential was sent, else None.

    Authenticates the caller (if a credential is sent) and charges the request to their
    rate-limit budget: the principal's when authenticated, the client IP's otherwise. A bad
    credential is charged to the IP, so guessing tokens is throttled too."""
    # Read from app state here rather than as two more dependencies: this runs on every
    # request, and each dependency FastAPI resolves costs measurable time (docs/performance.md).
    tools: AuthTools = request.app.state.auth
    limiter: RateLimiter = request.app.state.ratelimiter
    principal: Principal | None = None
    try:
        if token:
            principal = await service.authenticate_token(session, tools, token)
        elif api_key:
            principal = await service.authenticate_api_key(session, tools, api_key)
    except NotAuthenticated:
        await limiter.hit(_default_budget(request, limiter, None))
        raise
    await limiter.hit(_default_budget(request, limiter, principal), response)
    request.state.principal = principal
    return principal


@_policy
async def authenticated(
    principal: Annotated[Principal | None, Depends(public)],
) -> Principal:
    """The caller, authenticated by bearer token or API key; 401 otherwise."""
    if principal is None:
        raise NotAuthenticated("Sign in: send a bearer token or an X-API-Key header.")
    return principal


def require(permission: Perm) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency for a caller holding `permission`: 401 if anonymous, 403 if not held."""

    @_policy
    async def require_permission(
        principal: Annotated[Principal, Depends(authenticated)],
    ) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(f"This needs the {permission.value!r} permission.")
        return principal

    require_permission.__name__ = f"require_{permission.name.lower()}"
    return require_permission


Public = Depends(public)
CurrentPrincipal = Annotated[Principal, Depends(authenticated)]
OptionalPrincipal = Annotated[Principal | None, Depends(public)]

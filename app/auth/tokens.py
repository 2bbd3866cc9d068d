"""Access tokens (JWT), refresh tokens and API keys: how each is made and checked.

Access tokens are short-lived HS256 JWTs signed by one key of a key ring; the `kid` header
names the key, so a new key can sign while the previous one still verifies until its tokens
expire. The algorithm list is fixed here, never read from the token, and every claim is
required (PyJWT checks `exp`/`aud` only when present otherwise).

Refresh tokens and API keys are random strings; only a hash of each is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from app.core.config import AuthSettings

ALGORITHMS = ["HS256"]
REQUIRED_CLAIMS = ["sub", "sid", "exp", "iat", "nbf", "iss", "aud", "jti"]
API_KEY_PREFIX = "rb"


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or signed by an unknown key."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


class TokenCodec:
    def __init__(self, settings: AuthSettings) -> None:
        self._keys = {kid: key.get_secret_value() for kid, key in settings.jwt_keys.items()}
        self._active_kid = settings.jwt_active_kid
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.access_ttl = timedelta(seconds=settings.access_token_ttl_seconds)

    def issue_access(
        self, *, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime | None = None
    ) -> str:
        now = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl,
            "iss": self._issuer,
            "aud": self._audience,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            claims,
            self._keys[self._active_kid],
            algorithm=ALGORITHMS[0],
            headers={"kid": self._active_kid},
        )

    def decode_access(self, token: str) -> AccessClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidToken("unknown signing key")
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=5,
            )
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError) as exc:
            raise InvalidToken(type(exc).__name__) from exc


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # SHA-256 without salt is right here: the token is 256 random bits, not a password, so
    # there is nothing to brute-force and lookups by hash stay a unique-index hit.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    key: str


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    return NewApiKey(prefix=prefix, key=f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}")


def api_key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def hash_api_key(key: str, pepper: str) -> str:
    # A keyed hash: a leaked database alone can't be used to test guesses offline.
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def api_key_matches(key: str, stored_hash: str, pepper: str) -> bool:
    return hmac.compare_digest(hash_api_key(key, pepper), stored_hash)

"""Every setting the service reads, from environment variables (and an optional `.env`).

Each section is its own `BaseSettings` with an env prefix, so the variable names stay flat and
obvious (`DATABASE_URL`, `DATABASE_POOL_SIZE`, `REDIS_URL`) while the code reads
`settings.db.pool_size`. Settings are read once through `get_settings()` and validated at
start-up; tests build their own `Settings(...)` and pass it to `create_app()`.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Placeholder secrets that make `make run` work with nothing configured. They are public (they are
# in this file), so `APP_ENV=prod` refuses to start while any of them is in use.
DEV_SECRET_PREFIX = "dev-insecure-"  # noqa: S105 - a marker, not a secret
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=".env",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
    )


class DatabaseSettings(BaseSettings):
    model_config = _section("DATABASE_")

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (postgresql+asyncpg://...). Unset: `make run` starts an "
        "embedded PostgreSQL under DATA_DIR.",
    )
    pool_size: int = Field(
        default=20,
        ge=1,
        description="Connections kept open per process (per engine: the read engine has its "
        "own). Size it to the requests one process has in the database at once.",
    )
    max_overflow: int = Field(
        default=0,
        ge=0,
        description="Extra connections beyond the pool. Each is closed as soon as it is "
        "returned, so under steady load above the pool size connections are opened and "
        "closed all the time (docs/performance.md); keep 0 and size the pool instead.",
    )
    pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a free connection before a 503."
    )
    pool_recycle: int = Field(
        default=1800, description="Seconds after which a connection is replaced (-1: never)."
    )
    pool_pre_ping: bool = Field(
        default=True,
        description="Test each connection on checkout, so a restart of the "
        "database costs one failed ping, not one failed request.",
    )
    connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to open a connection.")
    statement_timeout_ms: int = Field(
        default=15_000, ge=0, description="Server-side cap on any statement (0: none)."
    )
    echo: bool = Field(default=False, description="Log every SQL statement (dev only).")
    read_url: str | None = Field(
        default=None,
        description="Where read-only requests query (a replica). Unset: DATABASE_URL.",
    )
    pgbouncer: bool = Field(
        default=False,
        description="Behind PgBouncer in transaction mode: no prepared-statement caches, "
        "unique statement names, no startup parameters but application_name "
        "(see docs/scaling.md).",
    )


class RedisSettings(BaseSettings):
    model_config = _section("REDIS_")

    url: str | None = Field(
        default=None,
        description="redis:// URL. Unset: `make run` starts an embedded Redis under DATA_DIR.",
    )
    max_connections: int = Field(default=50, ge=1, description="Size of the client's pool.")
    socket_timeout: float = Field(
        default=1.0, gt=0, description="Seconds before a Redis call gives up."
    )
    key_prefix: str = Field(
        default="rb:", description="Prefix of every key the API writes (cache, limits, breakers)."
    )


class HttpSettings(BaseSettings):
    model_config = _section("")

    host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS (empty: CORS off).",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (413 beyond)."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated proxy IPs whose X-Forwarded-For is believed.",
    )

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class RateLimitSettings(BaseSettings):
    """Limits in the `limits` string syntax: "300/minute", "10 per 15 minutes"."""

    model_config = _section("RATE_LIMIT_")

    enabled: bool = Field(default=True, description="Switch off for load tests only.")
    default: str = Field(
        default="300/minute",
        description="Whole API, per principal (user or API key) or, anonymous, per client IP.",
    )
    elevated: str = Field(
        default="3000/minute", description="Whole API for moderators and admins, per principal."
    )
    auth: str = Field(
        default="20/minute",
        description="Per client IP on sign-in, sign-up, token refresh and password change.",
    )
    auth_account: str = Field(
        default="10 per 15 minutes",
        description="Failed sign-ins per account; beyond it the account's sign-in answers 429.",
    )
    redis_down: Literal["open", "closed"] = Field(
        default="open",
        description="With Redis unreachable: open (serve, log a warning) or closed (503). "
        "Sign-in limits always fall back to an in-process limiter.",
    )
    redis_retry_after_seconds: float = Field(
        default=5.0,
        ge=0,
        description="After a Redis failure, how long limits skip Redis (the outage policy "
        "applies at once) before trying it again.",
    )


class CacheSettings(BaseSettings):
    model_config = _section("CACHE_")

    ttl_seconds: int = Field(
        default=60, ge=1, description="How long a cached read (tags, post detail) stays fresh."
    )
    stale_seconds: int = Field(
        default=300,
        ge=0,
        description="How long past freshness a copy is kept to answer while one request "
        "recomputes it (stampede protection).",
    )
    lock_seconds: float = Field(
        default=5.0, gt=0, description="Longest a recompute holds its lock before another may."
    )
    wait_seconds: float = Field(
        default=0.5,
        ge=0,
        description="How long a request waits for another's recompute before computing itself.",
    )
    retry_after_seconds: float = Field(
        default=5.0,
        ge=0,
        description="After a Redis failure, how long the cache is bypassed (reads go to the "
        "database) before Redis is tried again.",
    )
    http_max_age_seconds: int = Field(
        default=30,
        ge=0,
        description="`Cache-Control: max-age` of public GETs (clients revalidate with ETags).",
    )


class AttachmentSettings(BaseSettings):
    model_config = _section("ATTACHMENTS_")

    max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest attachment accepted (413 beyond)."
    )
    content_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
        ],
        description="Comma-separated content types accepted for attachments (415 otherwise).",
    )

    @field_validator("content_types", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip().lower() for item in value.split(",") if item.strip()]
        return value


class CelerySettings(BaseSettings):
    model_config = _section("CELERY_")

    broker_url: str | None = Field(
        default=None, description="Celery broker. Unset: the same Redis as REDIS_URL."
    )
    visibility_timeout_seconds: int = Field(
        default=3600,
        ge=1,
        description="A task unacknowledged this long (its worker died) is delivered again.",
    )
    worker_concurrency: int = Field(default=2, ge=1, description="Worker processes.")
    db_pool_size: int = Field(
        default=2, ge=1, description="Database connections per worker process."
    )
    metrics_port: int = Field(
        default=9101, ge=0, le=65535, description="Worker's /metrics port (0: off)."
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface of the worker's /metrics (0.0.0.0 in a container).",
    )


class OrdersSettings(BaseSettings):
    model_config = _section("ORDERS_")

    idempotency_key_ttl_hours: float = Field(
        default=24, gt=0, description="How long a stored Idempotency-Key response is replayed."
    )
    max_items: int = Field(default=50, ge=1, description="Most lines one order may have.")
    export_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="Largest order export file produced."
    )


class OutboxSettings(BaseSettings):
    model_config = _section("OUTBOX_")

    relay_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often Celery beat relays events whose after-commit nudge was lost.",
    )
    relay_batch_size: int = Field(
        default=100, ge=1, description="Events published per relay transaction."
    )
    retention_days: int = Field(
        default=7, ge=1, description="Published events are purged after this many days."
    )


class PaymentsSettings(BaseSettings):
    model_config = _section("PAYMENTS_")

    base_url: str = Field(
        default="http://127.0.0.1:8010",
        description="The payment provider's API. The default is the simulator `make run` starts "
        "(prod refuses a local URL).",
    )
    api_key: SecretStr = Field(
        default=SecretStr(f"{DEV_SECRET_PREFIX}payments-api-key"),
        description="Bearer credential for the provider's API.",
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr(f"{DEV_SECRET_PREFIX}payments-webhook-secret"),
        description="Verifies the provider's signed callbacks (Standard Webhooks; a `whsec_` "
        "base64 secret or raw text).",
    )
    connect_timeout: float = Field(default=2.0, gt=0, description="Seconds to connect.")
    read_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for a response.")
    write_timeout: float = Field(default=5.0, gt=0, description="Seconds to send a request.")
    pool_timeout: float = Field(
        default=2.0, gt=0, description="Seconds to wait for a free connection of the client."
    )
    retry_attempts: int = Field(
        default=3, ge=1, description="Tries per call, the first included (retryable failures)."
    )
    retry_max_wait: float = Field(
        default=5.0, gt=0, description="Longest pause between two tries (incl. Retry-After)."
    )
    breaker_fail_max: int = Field(
        default=5, ge=1, description="Consecutive failed calls that open the circuit breaker."
    )
    breaker_reset_seconds: float = Field(
        default=30.0, gt=0, description="How long the breaker stays open before a trial call."
    )
    defer_deadline_seconds: int = Field(
        default=3600,
        ge=1,
        description="How long a charge waits out an open breaker before the order is failed.",
    )


# 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h: 11 attempts over about a day.
WEBHOOK_RETRY_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)


class WebhooksSettings(BaseSettings):
    model_config = _section("WEBHOOKS_")

    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(f"{DEV_SECRET_PREFIX}webhooks-encryption-key")],
        min_length=1,
        description="Comma-separated keys that encrypt endpoint signing secrets at rest: the "
        "first encrypts, every one decrypts. To rotate, put a new key first, run the "
        "`webhooks.reencrypt_secrets` task, then drop the old key.",
    )
    retry_schedule_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(WEBHOOK_RETRY_SCHEDULE),
        min_length=1,
        description="Comma-separated waits before each retry of a failed delivery (each "
        "jittered by up to 20%); when they are used up the delivery has failed. The default "
        "makes 11 attempts over about a day.",
    )
    connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to connect to a receiver."
    )
    timeout: float = Field(
        default=15.0,
        gt=0,
        description="Seconds one delivery attempt may take in all (connect, send, response "
        "headers) before it counts as failed.",
    )
    disable_after_failures: int = Field(
        default=5,
        ge=1,
        description="Consecutive deliveries that failed for good (retries used up) after "
        "which an endpoint is disabled until its owner enables it again.",
    )
    max_endpoints_per_owner: int = Field(
        default=10, ge=1, description="Most webhook endpoints one user may register."
    )
    dispatch_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often Celery beat queues the deliveries whose next attempt is due.",
    )
    redispatch_after_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A queued attempt that hasn't run after this long (its message was lost) "
        "is queued again.",
    )
    delivery_retention_days: int = Field(
        default=30,
        ge=1,
        description="Finished deliveries (and their attempts) are purged after this many days.",
    )

    @field_validator("encryption_keys", "retry_schedule_seconds", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _positive_waits(cls, value: list[float]) -> list[float]:
        if any(wait <= 0 for wait in value):
            raise ValueError("every retry wait must be positive")
        return value


class AuthSettings(BaseSettings):
    model_config = _section("AUTH_")

    jwt_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {"dev-1": SecretStr(f"{DEV_SECRET_PREFIX}jwt-signing-key-0001")},
        description='JSON key ring {"kid": "secret"} for HS256 access tokens. Keep the '
        "previous key in the ring after a rotation until its tokens have expired.",
    )
    jwt_active_kid: str = Field(default="dev-1", description="Key id that signs new tokens.")
    jwt_issuer: str = Field(default="reference-backend", description="`iss` of access tokens.")
    jwt_audience: str = Field(default="reference-backend-api", description="`aud` of tokens.")
    access_token_ttl_seconds: int = Field(default=900, ge=30, description="Access token life.")
    refresh_token_ttl_days: int = Field(default=30, ge=1, description="Refresh session life.")
    api_key_pepper: SecretStr = Field(
        default=SecretStr(f"{DEV_SECRET_PREFIX}api-key-pepper"),
        description="HMAC key under which API keys are stored (only the keyed hash is kept).",
    )
    api_key_rotation_grace_hours: float = Field(
        default=24, ge=0, description="How long a rotated API key keeps working."
    )
    password_hash_concurrency: int = Field(
        default=1,
        ge=1,
        description="Password hashes computed at once per process. Each takes a core for "
        "~120 ms: one at a time leaves the other cores to the requests that aren't sign-ins.",
    )
    password_hash_wait_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a sign-in (or sign-up, password change) waits for a hashing "
        "slot before it is answered 503 with Retry-After instead of queueing without end.",
    )
    argon2_time_cost: int = Field(default=2, ge=1, description="argon2id iterations.")
    argon2_memory_kib: int = Field(default=65536, ge=1024, description="argon2id memory (KiB).")
    argon2_parallelism: int = Field(
        default=1,
        ge=1,
        description="argon2id lanes; more than 1 runs threads per hash and starves the event "
        "loop during a sign-in burst (docs/performance.md).",
    )

    @model_validator(mode="after")
    def _active_kid_is_in_ring(self) -> AuthSettings:
        if self.jwt_active_kid not in self.jwt_keys:
            raise ValueError(f"AUTH_JWT_ACTIVE_KID {self.jwt_active_kid!r} is not in AUTH_JWT_KEYS")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    app_env: Environment = Field(
        default=Environment.DEV,
        description="dev | test | prod. prod refuses to start with a default or missing secret.",
    )
    log_level: str = Field(default="INFO", description="Root log level.")
    log_json: bool | None = Field(
        default=None, description="JSON log lines (default: on in prod, off elsewhere)."
    )
    data_dir: Path = Field(
        default=Path(".data"),
        description="Where `make run` keeps the embedded databases, secrets and files.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(f"{DEV_SECRET_PREFIX}secret-key-for-signing-cursors"),
        description="Signs pagination cursors and other tamper-evident values.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for /metrics in prod (unset: /metrics is 404 in prod).",
    )
    gc_threshold: int = Field(
        default=10_000,
        ge=700,
        description="Allocations between two young-generation garbage collections in the API "
        "process (Python's default: 700); the heap built at startup is also frozen out of "
        "collections. Together they cut the feed's CPU per request by about a quarter "
        "(docs/performance.md).",
    )
    profiler_enabled: bool | None = Field(
        default=None,
        description="`?profile=1` returns a pyinstrument profile of any request "
        "(default: on in dev, off elsewhere; refused in prod).",
    )
    blob_dir: Path | None = Field(
        default=None,
        description="Where blob storage keeps files (attachments, exports). Unset: DATA_DIR/blobs.",
    )
    admin_email: str = Field(
        default="admin@example.com", description="Admin account created by the demo seed."
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="Its password. Unset: generated once, printed, kept in DATA_DIR (0600).",
    )

    http: HttpSettings = Field(default_factory=HttpSettings)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    celery: CelerySettings = Field(default_factory=CelerySettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)
    orders: OrdersSettings = Field(default_factory=OrdersSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    payments: PaymentsSettings = Field(default_factory=PaymentsSettings)
    webhooks: WebhooksSettings = Field(default_factory=WebhooksSettings)

    @property
    def is_prod(self) -> bool:
        return self.app_env is Environment.PROD

    @property
    def profiler(self) -> bool:
        if self.profiler_enabled is None:
            return self.app_env is Environment.DEV
        return self.profiler_enabled

    @property
    def blob_root(self) -> Path:
        return (self.blob_dir or self.data_dir / "blobs").resolve()

    @property
    def json_logs(self) -> bool:
        return self.is_prod if self.log_json is None else self.log_json

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_prod(self) -> Settings:
        if not self.is_prod:
            return self
        problems = []
        for env_var, value in self._secrets().items():
            if not value:
                problems.append(f"{env_var} is missing")
            elif value.startswith(DEV_SECRET_PREFIX):
                problems.append(f"{env_var} is a development default")
            elif len(value) < MIN_SECRET_LENGTH:
                problems.append(f"{env_var} is shorter than {MIN_SECRET_LENGTH} characters")
        if self.db.url is None:
            problems.append("DATABASE_URL is missing (no embedded database in prod)")
        if self.redis.url is None:
            problems.append("REDIS_URL is missing (no embedded Redis in prod)")
        if self.profiler_enabled:
            problems.append("PROFILER_ENABLED must be off (it exposes code internals)")
        if urlsplit(self.payments.base_url).hostname in {"127.0.0.1", "localhost", "::1"}:
            problems.append("PAYMENTS_BASE_URL points at the local payment simulator")
        if problems:
            raise ValueError(
                "APP_ENV=prod refuses to start: " + "; ".join(problems) + ". Set them in the "
                "environment or a secret store; see the settings table in README.md."
            )
        return self

    def _secrets(self) -> dict[str, str]:
        """Secret settings by env var name, as plain strings, for the prod check only."""
        secrets: dict[str, str] = {
            "SECRET_KEY": self.secret_key.get_secret_value(),
            "AUTH_API_KEY_PEPPER": self.auth.api_key_pepper.get_secret_value(),
            "PAYMENTS_API_KEY": self.payments.api_key.get_secret_value(),
            "PAYMENTS_WEBHOOK_SECRET": self.payments.webhook_secret.get_secret_value(),
        }
        for kid, key in self.auth.jwt_keys.items():
            secrets[f"AUTH_JWT_KEYS[{kid}]"] = key.get_secret_value()
        for index, key in enumerate(self.webhooks.encryption_keys):
            secrets[f"WEBHOOKS_ENCRYPTION_KEYS[{index}]"] = key.get_secret_value()
        return secrets


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()

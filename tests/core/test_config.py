from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import (
    AuthSettings,
    DatabaseSettings,
    RedisSettings,
    Settings,
    WebhooksSettings,
)
from tests.conftest import prod_secrets

STRONG_KEY = "k" * 48


def test_prod_refuses_to_start_with_development_secrets() -> None:
    with pytest.raises(ValidationError) as failure:
        Settings(
            app_env="prod",
            db=DatabaseSettings(url="postgresql+asyncpg://db/app"),
            redis=RedisSettings(url="redis://cache:6379/0"),
        )
    message = str(failure.value)
    assert "APP_ENV=prod refuses to start" in message
    assert "AUTH_API_KEY_PEPPER is a development default" in message
    assert "AUTH_JWT_KEYS[dev-1] is a development default" in message
    assert "SECRET_KEY is a development default" in message
    assert "PAYMENTS_WEBHOOK_SECRET is a development default" in message
    assert "WEBHOOKS_ENCRYPTION_KEYS[0] is a development default" in message
    assert "PAYMENTS_BASE_URL points at the local payment simulator" in message


def test_prod_refuses_short_secrets() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY is shorter than 32 characters"):
        Settings(
            app_env="prod",
            secret_key=SecretStr("short"),
            db=DatabaseSettings(url="postgresql+asyncpg://db/app"),
            redis=RedisSettings(url="redis://cache:6379/0"),
        )


def test_prod_refuses_to_start_without_database_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ValidationError, match=r"DATABASE_URL is missing.*REDIS_URL is missing"):
        Settings(
            app_env="prod",
            secret_key=SecretStr(STRONG_KEY),
            auth=AuthSettings(
                jwt_keys={"k1": SecretStr(STRONG_KEY)},
                jwt_active_kid="k1",
                api_key_pepper=SecretStr(STRONG_KEY),
            ),
        )


def test_prod_starts_with_real_secrets() -> None:
    settings = Settings(
        **prod_secrets(),  # type: ignore[arg-type]
        db=DatabaseSettings(url="postgresql+asyncpg://db/app"),
        redis=RedisSettings(url="redis://cache:6379/0"),
    )
    assert settings.is_prod
    assert settings.json_logs


def test_settings_come_from_flat_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("REDIS_KEY_PREFIX", "svc:")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    settings = Settings()
    assert settings.db.pool_size == 7
    assert settings.redis.key_prefix == "svc:"
    assert settings.http.cors_origins == ["https://a.example", "https://b.example"]


def test_list_settings_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOKS_ENCRYPTION_KEYS", "new-key, old-key")
    monkeypatch.setenv("WEBHOOKS_RETRY_SCHEDULE_SECONDS", "0.5,2, 10")
    settings = Settings()
    keys = [key.get_secret_value() for key in settings.webhooks.encryption_keys]
    assert keys == ["new-key", "old-key"]
    assert settings.webhooks.retry_schedule_seconds == [0.5, 2, 10]
    monkeypatch.setenv("WEBHOOKS_RETRY_SCHEDULE_SECONDS", "5,0")
    with pytest.raises(ValidationError, match="every retry wait must be positive"):
        Settings()


def test_prod_refuses_an_old_webhook_encryption_key_left_at_its_default() -> None:
    with pytest.raises(ValidationError, match=r"WEBHOOKS_ENCRYPTION_KEYS\[1\] is a development"):
        Settings(
            app_env="prod",
            webhooks=WebhooksSettings(
                encryption_keys=[
                    SecretStr(STRONG_KEY),
                    SecretStr("dev-insecure-webhooks-encryption-key"),
                ]
            ),
        )


def test_secrets_never_appear_in_the_settings_repr() -> None:
    settings = Settings(auth=AuthSettings(api_key_pepper=SecretStr("pepper-value-123")))
    assert "pepper-value-123" not in repr(settings)
    assert "pepper-value-123" not in str(settings.model_dump())


def test_every_setting_is_documented_in_the_readme() -> None:
    from pathlib import Path  # noqa: PLC0415

    from tests.core.settings_table import BEGIN, END, settings_table  # noqa: PLC0415

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    documented = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert documented == settings_table(), (
        "README.md's settings table is stale: regenerate it with "
        "`uv run python -m tests.core.settings_table`"
    )

"""Credentials never reach the log output, whatever path they take into a log call."""

from __future__ import annotations

import logging

import pytest
import structlog

from app.core.logging import configure_logging

SECRET = "s3cr3t-Value-that-must-never-appear"

pytestmark = pytest.mark.checklist("auth.no-credential-logging", "anti.sec.credentials-in-logs")


def _connect(url: str) -> None:
    raise ConnectionError(f"connect failed for {url}")


@pytest.mark.parametrize("json_lines", [True, False])
def test_known_secret_never_appears_in_real_log_output(
    capfd: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    configure_logging(level="DEBUG", json=json_lines)
    log = structlog.get_logger("probe")
    log.info("login_attempt", password=SECRET, email="user@example.com")
    log.info("request", headers={"Authorization": f"Bearer {SECRET}", "X-API-Key": SECRET})
    log.info("nested", payload={"user": {"refresh_token": SECRET}}, items=[{"api_key": SECRET}])
    log.info("free_text", note=f"client sent password={SECRET} and token: {SECRET}")
    log.info("url", dsn=f"postgresql://app:{SECRET}@db:5432/app")
    logging.getLogger("uvicorn.access").info("GET /x?access_token=%s", SECRET)
    logging.getLogger("library").warning("Authorization: Bearer %s", SECRET)
    try:
        _connect(f"redis://:{SECRET}@cache:6379")
    except ConnectionError:
        log.exception("failed")

    out, err = capfd.readouterr()
    output = out + err
    assert "login_attempt" in output
    assert "user@example.com" in output
    assert SECRET not in output
    assert output.count("***") >= 9

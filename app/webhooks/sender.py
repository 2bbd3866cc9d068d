"""One HTTP attempt of a webhook delivery: SSRF-checked, bounded in time, never retried here.

Why not the shared `app.core.http.ResilientClient`: it is built for one known provider (a base
URL, a circuit breaker per provider, tenacity retries, 5xx turned into exceptions). A webhook
goes to a URL a user chose, so each attempt must resolve and check the host and connect to the
checked address (`app.core.ssrf`); its retries are the hours-long schedule of the delivery,
recorded attempt by attempt, not seconds of tenacity; the per-endpoint counter that disables
an endpoint plays the breaker's part; and every status code must come back to be recorded.
What it shares with that client: explicit timeouts, and `parse_retry_after`.

The whole attempt (DNS, connect, TLS, sending, waiting for the response headers) has one
deadline, `WEBHOOKS_TIMEOUT`: a receiver that trickles bytes can't hold a worker longer. The
response body is never read: only the status matters, and a receiver's body is not ours to
store.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import structlog

from app.core.config import Settings
from app.core.http import parse_retry_after
from app.core.ssrf import EgressPolicy, Resolver, UrlRefused, resolve_target, system_resolver

logger = structlog.get_logger(__name__)

USER_AGENT = "reference-backend-webhooks/1.0"


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt produced: a status code, or an error when no response came back."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver asks us to stop (Standard Webhooks: disable the endpoint)."""
        return self.status_code == 410


class WebhookSender:
    """Sends one signed message to one URL under an egress policy, within a deadline."""

    def __init__(
        self,
        *,
        policy: EgressPolicy,
        connect_timeout: float,
        timeout: float,
        resolve: Resolver = system_resolver,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.resolve = resolve
        self._timeouts = httpx.Timeout(timeout, connect=connect_timeout)
        # Loading the CA bundle takes milliseconds: once per sender, not once per attempt.
        self._ssl_context = httpx.create_ssl_context()
        self._headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, resolve: Resolver = system_resolver
    ) -> WebhookSender:
        return cls(
            policy=EgressPolicy.for_environment(settings.app_env),
            connect_timeout=settings.webhooks.connect_timeout,
            timeout=settings.webhooks.timeout,
            resolve=resolve,
        )

    async def send(self, url: str, *, body: bytes, headers: dict[str, str]) -> AttemptResult:
        """POSTs `body` to `url` once. Never raises for anything the receiver or the network
        does: a refused target, a timeout or a broken connection is an AttemptResult too."""
        started = time.perf_counter()
        status_code: int | None = None
        retry_after: float | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.timeout):
                target = await resolve_target(url, self.policy, resolve=self.resolve)
                # A client per attempt: attempts go to different hosts, the body is never read
                # (so the connection couldn't be reused anyway), and nothing outlives the call.
                async with httpx.AsyncClient(
                    verify=self._ssl_context,
                    timeout=self._timeouts,
                    follow_redirects=False,
                    trust_env=False,  # no proxy from the environment: it would resolve for us
                ) as client:
                    request = target.build_request(
                        client, "POST", content=body, headers=headers | self._headers
                    )
                    response = await client.send(request, stream=True)
                    await response.aclose()
            status_code = response.status_code
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except UrlRefused as exc:
            error = f"refused: {exc.reason}"[:200]
        except (TimeoutError, httpx.TimeoutException):
            error = "timeout"
        except httpx.HTTPError as exc:
            error = f"connection failed ({type(exc).__name__})"
        duration_ms = round((time.perf_counter() - started) * 1000)
        return AttemptResult(status_code, duration_ms, error=error, retry_after=retry_after)

"""What the webhook services need besides a session, built from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from app.core.config import Settings, WebhooksSettings
from app.core.ssrf import EgressPolicy, Resolver, system_resolver
from app.webhooks.signing import SecretBox

# How long past its deadline a claimed attempt is still presumed running (a slow commit, a
# paused process) before the dispatcher hands it to another worker.
LEASE_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class WebhookTools:
    """The settings, the secret box, the egress policy and the resolver. Microseconds to build:
    the API builds them per request, a worker once per process."""

    settings: WebhooksSettings
    box: SecretBox
    policy: EgressPolicy
    resolve: Resolver = field(default=system_resolver)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, resolve: Resolver = system_resolver
    ) -> WebhookTools:
        return cls(
            settings=settings.webhooks,
            box=SecretBox([key.get_secret_value() for key in settings.webhooks.encryption_keys]),
            policy=EgressPolicy.for_environment(settings.app_env),
            resolve=resolve,
        )

    @property
    def lease(self) -> timedelta:
        """How long a claimed attempt is its worker's: the attempt's deadline and a margin."""
        return timedelta(seconds=self.settings.timeout + LEASE_MARGIN_SECONDS)

"""Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-id`,
`webhook-timestamp` and `webhook-signature` (HMAC-SHA256 over `id.timestamp.body`), with a
five-minute tolerance on the timestamp against replays. The `standardwebhooks` package signs
and verifies; this module only turns our secret settings into its `Webhook`."""

from __future__ import annotations

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker of such secrets, not one


def standard_webhook(secret: str) -> Webhook:
    """A signer/verifier for `secret`: a provider's `whsec_<base64>` secret is decoded, any
    other text (a development placeholder) is used as raw key bytes."""
    if secret.startswith(SECRET_PREFIX):
        return Webhook(secret)
    return Webhook(secret.encode())

"""Endpoint signing secrets: made, encrypted at rest, used to sign (Standard Webhooks).

A receiver verifies a delivery with the endpoint's secret, so the service must be able to read
the secret back (a hash, as for passwords, won't do); it is therefore encrypted, with Fernet
(AES-128-CBC + HMAC-SHA256, authenticated), under keys that live in the settings, not in the
database. A copy of the database alone (a backup, a replica, a SQL injection) yields no secret.
See docs/adr/0008-standard-webhooks.md.

Key rotation: `WEBHOOKS_ENCRYPTION_KEYS` is an ordered list, the first key encrypts and every
key decrypts (`MultiFernet`); `SecretBox.reencrypt` moves a ciphertext to the first key.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections.abc import Sequence
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks format marker, not a secret
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
# Binds derived keys to this one use: the same setting can't decrypt anything else.
_KEY_INFO = b"reference-backend/webhooks/endpoint-secrets/v1"

WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks format: `whsec_` + base64 of random
    bytes, as the `standardwebhooks` libraries of every language accept it."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _fernet(key: str) -> Fernet:
    # The setting is free text like every other secret here (prod requires 32+ characters);
    # HKDF turns it into the 32 bytes Fernet needs, separated from any other use of the text.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    """Encrypts and decrypts endpoint secrets. The first key encrypts; all of them decrypt."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._primary = _fernet(keys[0])
        self._all = MultiFernet([self._primary, *(_fernet(key) for key in keys[1:])])

    def encrypt(self, secret: str) -> str:
        return self._all.encrypt(secret.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """The secret. Raises cryptography's InvalidToken if no key opens it (a key was
        dropped from the settings too early, or the ciphertext was tampered with)."""
        return self._all.decrypt(ciphertext).decode()

    def reencrypt(self, ciphertext: str) -> str | None:
        """The ciphertext under the first key, or None if it already is under it."""
        try:
            self._primary.decrypt(ciphertext)
        except InvalidToken:
            return self._all.rotate(ciphertext).decode("ascii")
        return None


def signature_headers(secret: str, *, msg_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` sent at `at`: the signature covers
    `{msg_id}.{timestamp}.{body}`, so a receiver detects a changed body, a replayed old
    message (the timestamp is checked within a tolerance) and a message id swapped in."""
    return {
        WEBHOOK_ID: msg_id,
        WEBHOOK_TIMESTAMP: str(math.floor(at.timestamp())),
        WEBHOOK_SIGNATURE: Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body),
    }

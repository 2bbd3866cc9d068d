"""Signing secrets: the Standard Webhooks format, signatures the reference library verifies,
encryption at rest and key rotation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import InvalidToken
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook, WebhookVerificationError

from app.webhooks import pipeline, service
from app.webhooks.signing import SecretBox, new_secret, signature_headers
from tests.factories import create_account
from tests.webhooks.conftest import endpoint_row, tools_for

BODY = '{"type":"order.paid","timestamp":"2026-11-28T08:00:00+00:00","data":{}}'


def test_secrets_are_random_standard_webhooks_secrets() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_a_signature_verifies_and_nothing_in_it_can_be_changed() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    headers = signature_headers(secret, msg_id="evt_1", body=BODY, at=now)
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(BODY, headers)["type"] == "order.paid"

    tampered = [
        (BODY.replace("paid", "failed"), headers),
        (BODY, headers | {"webhook-id": "evt_2"}),
        (BODY, headers | {"webhook-timestamp": str(int(now.timestamp()) - 1)}),
    ]
    for body, changed in tampered:
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, changed)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)  # another endpoint's secret


def test_an_old_message_is_refused_by_receivers() -> None:
    secret = new_secret()
    stale = signature_headers(
        secret, msg_id="evt_1", body=BODY, at=datetime.now(UTC) - timedelta(minutes=6)
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, stale)


def test_a_secret_is_stored_as_a_ciphertext_only_the_keys_open() -> None:
    box = SecretBox(["current-key-0123456789abcdef0123"])
    secret = new_secret()
    ciphertext = box.encrypt(secret)
    assert secret.removeprefix("whsec_") not in ciphertext
    assert box.encrypt(secret) != ciphertext  # a fresh IV each time
    assert box.decrypt(ciphertext) == secret
    with pytest.raises(InvalidToken):
        SecretBox(["another-key-0123456789abcdef01234"]).decrypt(ciphertext)
    with pytest.raises(InvalidToken):
        box.decrypt(ciphertext[:-4] + "AAAA")  # tampered: authenticated encryption


def test_a_rotated_key_still_opens_old_secrets_until_they_are_reencrypted() -> None:
    old, new = "old-key-0123456789abcdef0123456789", "new-key-0123456789abcdef0123456789"
    secret = new_secret()
    under_old = SecretBox([old]).encrypt(secret)
    rotating = SecretBox([new, old])
    assert rotating.decrypt(under_old) == secret
    under_new = rotating.reencrypt(under_old)
    assert under_new is not None
    assert rotating.reencrypt(under_new) is None  # already under the first key
    assert SecretBox([new]).decrypt(under_new) == secret


async def test_reencrypting_moves_every_endpoint_secret_to_the_new_key(
    session: AsyncSession, app: FastAPI
) -> None:
    tools = tools_for(app)
    owner = (await create_account(session, app)).user.id
    created = [
        await service.create_endpoint(
            session, tools, owner_id=owner, url="http://127.0.0.1:9/h", event_types=["order.paid"]
        )
        for _ in range(5)
    ]
    old = tools.settings.encryption_keys[0].get_secret_value()
    rotating = SecretBox(["brand-new-key-0123456789abcdef0123", old])
    total, after = 0, None
    while True:  # in batches of two, as the task does in batches of REENCRYPT_BATCH_SIZE
        changed, after = await pipeline.reencrypt_secrets(session, rotating, after=after, limit=2)
        total += changed
        if after is None:
            break
    assert total == 5
    only_new = SecretBox(["brand-new-key-0123456789abcdef0123"])
    for endpoint, secret in created:
        stored = await endpoint_row(session, endpoint.id)
        assert only_new.decrypt(stored.secret_ciphertext) == secret
    again, _ = await pipeline.reencrypt_secrets(session, rotating, after=None, limit=100)
    assert again == 0

"""One delivery attempt against real servers on loopback: status codes, the deadline, no
redirects, and the SSRF check made again at send time."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

import pytest
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from app.core.ssrf import EgressPolicy, Resolver, system_resolver
from app.devstack.embedded import free_port
from app.webhooks.sender import WebhookSender
from tests.loopback import serve
from tests.webhooks.conftest import Receiver

LOCAL = EgressPolicy(allow_http=True, allow_loopback=True)
NO_LOOPBACK = EgressPolicy(allow_http=True, allow_loopback=False)
HEADERS = {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,x"}


def _sender(
    policy: EgressPolicy = LOCAL, *, timeout: float = 2.0, resolve: Resolver = system_resolver
) -> WebhookSender:
    return WebhookSender(policy=policy, connect_timeout=1.0, timeout=timeout, resolve=resolve)


async def test_the_status_code_and_duration_of_an_answer_are_recorded(receiver: Receiver) -> None:
    receiver.script(503)
    result = await _sender().send(receiver.url, body=b'{"a":1}', headers=HEADERS)
    assert (result.status_code, result.error, result.succeeded) == (503, None, False)
    assert result.duration_ms >= 0
    (received,) = receiver.received
    assert received.body == b'{"a":1}'
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-id"] == "msg_1"
    receiver.script(204)
    assert (await _sender().send(receiver.url, body=b"{}", headers=HEADERS)).succeeded


async def test_429_says_when_to_come_back(receiver: Receiver) -> None:
    async def busy(scope: Scope, receive: Receive, send: Send) -> None:
        await Response(status_code=429, headers={"Retry-After": "120"})(scope, receive, send)

    with serve(busy) as url:
        result = await _sender().send(url, body=b"{}", headers=HEADERS)
    assert (result.status_code, result.retry_after) == (429, 120.0)


@pytest.mark.checklist("integ.resilient-calls")
async def test_a_receiver_slower_than_the_deadline_is_a_timed_out_attempt(
    receiver: Receiver,
) -> None:
    receiver.script(200, delay=1.2)
    started = time.monotonic()
    result = await _sender(timeout=0.4).send(receiver.url, body=b"{}", headers=HEADERS)
    assert (result.status_code, result.error) == (None, "timeout")
    assert 0.35 < time.monotonic() - started < 1.1
    assert 350 <= result.duration_ms < 1100


async def test_a_closed_port_is_a_connection_failure() -> None:
    result = await _sender().send(f"http://127.0.0.1:{free_port()}/", body=b"{}", headers=HEADERS)
    assert (result.status_code, result.error) == (None, "connection failed (ConnectError)")


@pytest.mark.checklist("anti.sec.no-input-validation")
async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    async def redirect(scope: Scope, receive: Receive, send: Send) -> None:
        await RedirectResponse(receiver.url, status_code=302)(scope, receive, send)

    with serve(redirect) as url:
        result = await _sender().send(url, body=b"{}", headers=HEADERS)
    assert (result.status_code, result.succeeded) == (302, False)
    assert receiver.received == []


@pytest.mark.checklist("anti.sec.no-input-validation")
async def test_a_refused_address_is_never_connected_to(receiver: Receiver) -> None:
    result = await _sender(NO_LOOPBACK).send(receiver.url, body=b"{}", headers=HEADERS)
    assert (result.status_code, result.error) == (None, "refused: it is a loopback address")
    assert receiver.received == []


@pytest.mark.checklist("anti.sec.no-input-validation")
async def test_a_name_rebound_to_a_private_address_after_registration_is_refused(
    receiver: Receiver,
) -> None:
    """DNS rebinding: the name passed the check at registration, then points inside. The
    check is made again at every attempt, against the answer the request will use."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    answers: dict[str, list[str]] = {"hooks.test": ["127.0.0.1"]}

    async def dns(host: str, _: int) -> Sequence[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return answers[host]

    sender = _sender(resolve=dns)
    url = f"http://hooks.test:{port}/hooks/orders"
    assert (await sender.send(url, body=b"{}", headers=HEADERS)).succeeded
    answers["hooks.test"] = ["10.0.0.8"]
    result = await sender.send(url, body=b"{}", headers=HEADERS)
    assert result.error == "refused: 'hooks.test' resolves to a private address"
    assert len(receiver.received) == 1
    assert receiver.received[0].headers["host"] == f"hooks.test:{port}"

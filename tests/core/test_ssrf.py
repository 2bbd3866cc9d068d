"""The SSRF guard: which user-chosen URLs may be called, checked on every address and pinned.

There is no network DNS in CI, so names other than `localhost` resolve through a small zone
(`Zone`) standing in for a DNS server; `localhost` goes through the real resolver.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from app.core.config import Environment
from app.core.ssrf import EgressPolicy, UrlRefused, refusal, resolve_target
from tests.loopback import serve

PROD = EgressPolicy.for_environment(Environment.PROD)
TEST = EgressPolicy.for_environment(Environment.TEST)
PUBLIC = "93.184.216.34"


class Zone:
    """A DNS zone: name -> addresses, which a test may change (rebinding)."""

    def __init__(self, records: dict[str, Sequence[str]]) -> None:
        self.records = records

    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.records:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.records[host])


@pytest.mark.checklist("anti.sec.no-input-validation")
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # the cloud metadata service
        ("fe80::1", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 - an address under test
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("::ffff:10.0.0.1", "a private address"),  # IPv4-mapped
        ("::ffff:127.0.0.1", "a loopback address"),
        ("2002:7f00:1::", "a loopback address"),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a00:1", "a private address"),  # NAT64 wrapping 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo tunnel address"),
    ],
)
def test_non_public_addresses_are_refused_in_production(address: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(address), PROD) == reason


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_accepted(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), PROD) is None


def test_only_loopback_is_opened_up_in_dev_and_test() -> None:
    assert refusal(ipaddress.ip_address("127.0.0.1"), TEST) is None
    assert refusal(ipaddress.ip_address("::1"), TEST) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), TEST) == "a private address"
    assert refusal(ipaddress.ip_address("169.254.169.254"), TEST) == "a link-local address"


@pytest.mark.checklist("anti.sec.no-input-validation")
@pytest.mark.parametrize(
    ("url", "policy", "message"),
    [
        ("http://hooks.example/x", PROD, "the scheme must be https"),
        ("ftp://hooks.example/x", TEST, "the scheme must be http or https"),
        ("https://user:pw@hooks.example/x", PROD, "it must not contain credentials"),
        ("https://10.0.0.1/x", TEST, "it is a private address"),
        ("https://[::ffff:169.254.169.254]/x", TEST, "it is a link-local address"),
        ("https://internal.example/x", PROD, "'internal.example' resolves to a private address"),
        ("https://mixed.example/x", PROD, "'mixed.example' resolves to a private address"),
        ("https://nowhere.example/x", PROD, "its host 'nowhere.example' does not resolve"),
    ],
)
async def test_refused_urls_say_why(url: str, policy: EgressPolicy, message: str) -> None:
    # `mixed` answers one public and one private address: every answer counts, since the
    # client could connect to either.
    zone = Zone({"internal.example": ["10.0.0.7"], "mixed.example": [PUBLIC, "10.0.0.7"]})
    with pytest.raises(UrlRefused) as refused:
        await resolve_target(url, policy, resolve=zone)
    assert refused.value.reason == message
    assert "10.0.0.7" not in refused.value.reason  # internal addresses are not disclosed


async def test_a_public_name_resolves_to_a_pinned_target() -> None:
    zone = Zone({"hooks.example": [PUBLIC]})
    target = await resolve_target("https://hooks.example:8443/in?x=1", PROD, resolve=zone)
    assert target.address == ipaddress.ip_address(PUBLIC)
    request = target.build_request(httpx.AsyncClient(), "POST", content=b"{}", headers={})
    assert str(request.url) == f"https://{PUBLIC}:8443/in?x=1"
    assert request.headers["Host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"  # the certificate is checked


async def test_internationalized_names_are_resolved_in_their_ascii_form() -> None:
    zone = Zone({"xn--bcher-kva.example": [PUBLIC]})
    target = await resolve_target("https://bücher.example/hook", PROD, resolve=zone)
    assert target.address == ipaddress.ip_address(PUBLIC)


async def test_localhost_through_the_system_resolver_is_refused_in_production() -> None:
    with pytest.raises(UrlRefused, match="'localhost' resolves to a loopback address"):
        await resolve_target("https://localhost/hook", PROD)
    target = await resolve_target("http://localhost:9/hook", TEST)
    assert target.address.is_loopback


async def _echo_host(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    await PlainTextResponse(request.headers["host"])(scope, receive, send)


async def test_a_pinned_request_reaches_the_checked_address_under_its_own_name() -> None:
    with serve(_echo_host) as url:
        port = httpx.URL(url).port
        # The name resolves only through the zone: the HTTP client could not have resolved it
        # itself, so the request can only have gone to the pinned address.
        zone = Zone({"receiver.test": ["127.0.0.1"]})
        target = await resolve_target(f"http://receiver.test:{port}/hook", TEST, resolve=zone)
        async with httpx.AsyncClient() as client:
            request = target.build_request(client, "POST", content=b"{}", headers={})
            response = await client.send(request)
    assert response.text == f"receiver.test:{port}"

"""Requests to URLs that users choose (webhook endpoints), without becoming a proxy into our own
network: server-side request forgery (SSRF) defences.

Whoever can make the service call a URL of their choice can aim it at what only the service can
reach: the cloud metadata endpoint (169.254.169.254), the database, an admin port on localhost.
So a user-chosen URL is called only if

- its scheme is https (http too in dev and test) and it carries no credentials;
- its host resolves, and *every* address it resolves to is a public one: not loopback (allowed
  in dev and test, where tests run receivers on 127.0.0.1), private, link-local, multicast,
  reserved, unspecified or otherwise not globally routable, including IPv4 addresses wrapped
  in IPv6 (mapped, 6to4, NAT64) and Teredo tunnels;

and the check is made again right before every request, because DNS answers change: a name
that was public when it was registered may point inside later (DNS rebinding). The request is
then sent to the very address that was checked (pinned), with the original name in the `Host`
header and in TLS SNI (so the certificate is still verified for the name): the HTTP library
never resolves the name a second time. Redirects are never followed, since a public URL could
redirect inside; callers use `follow_redirects=False`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from app.core.config import Environment

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the name resolves to, as text. Injectable: tests stand in for
# DNS (there is no network DNS in CI); production uses the system resolver.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

RESOLVE_TIMEOUT_SECONDS = 5.0
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UrlRefused(Exception):
    """The URL may not be called. `reason` is safe to show the URL's owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EgressPolicy:
    """Which user-chosen targets are acceptable. Private networks are never acceptable."""

    allow_http: bool
    allow_loopback: bool

    @classmethod
    def for_environment(cls, env: Environment) -> EgressPolicy:
        """Production: https to public addresses only. Dev and test: also http and loopback,
        so a developer (or a test) can run a receiver on 127.0.0.1."""
        local = env is not Environment.PROD
        return cls(allow_http=local, allow_loopback=local)


@dataclass(frozen=True)
class Target:
    """A URL whose host was resolved and checked, and the checked address to connect to."""

    url: httpx.URL
    address: IPAddress

    def build_request(
        self,
        client: httpx.AsyncClient,
        method: str,
        *,
        content: bytes,
        headers: dict[str, str],
    ) -> httpx.Request:
        """A request to `address`, presenting the URL's host name in `Host` and TLS SNI."""
        extensions: dict[str, Any] = {}
        if self.url.scheme == "https" and not _is_ip_literal(self.url.host):
            extensions["sni_hostname"] = self.url.host
        return client.build_request(
            method,
            self.url.copy_with(host=str(self.address)),
            content=content,
            headers={**headers, "Host": self.url.netloc.decode("ascii")},
            extensions=extensions,
        )


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, through the operating system (off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_url(url: str, policy: EgressPolicy) -> httpx.URL:
    """The URL parsed, if its form is acceptable (scheme, no credentials, a host). Raises
    UrlRefused. Addresses are checked by `resolve_target`."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UrlRefused("it is not a valid URL") from exc
    allowed_schemes = {"https", "http"} if policy.allow_http else {"https"}
    if parsed.scheme not in allowed_schemes:
        raise UrlRefused(f"the scheme must be {' or '.join(sorted(allowed_schemes))}")
    if parsed.userinfo:
        raise UrlRefused("it must not contain credentials")
    if not parsed.host:
        raise UrlRefused("it has no host")
    return parsed


def refusal(address: IPAddress, policy: EgressPolicy) -> str | None:
    """Why `address` may not be called under `policy`, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None:
            return "a Teredo tunnel address"
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    # The order matters only for the message: the first matching reason is the clearest one.
    # `is_global` last catches the rest (100.64.0.0/10 shared address space, documentation
    # ranges, ...); multicast is checked explicitly because Python calls 224.0.0.0/4 global.
    if address.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


async def resolve_target(
    url: str,
    policy: EgressPolicy,
    *,
    resolve: Resolver = system_resolver,
) -> Target:
    """Checks the URL and every address its host resolves to; returns the target to connect
    to. Raises UrlRefused (a refused form or address, or a host that doesn't resolve)."""
    parsed = check_url(url, policy)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS knows
    if _is_ip_literal(parsed.host):
        answers: Sequence[str] = [parsed.host]
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                answers = await resolve(host, parsed.port or _default_port(parsed.scheme))
        except (OSError, TimeoutError) as exc:  # socket.gaierror is an OSError
            raise UrlRefused(f"its host {host!r} does not resolve") from exc
        if not answers:
            raise UrlRefused(f"its host {host!r} does not resolve")
    # Every address, not just the first: the client could connect to any of them, and an
    # attacker controls the order of the answers.
    addresses = [ipaddress.ip_address(answer) for answer in answers]
    for address in addresses:
        reason = refusal(address, policy)
        if reason is not None:
            # The address itself is not shown: it would map our internal DNS for a prober.
            subject = "it is" if _is_ip_literal(parsed.host) else f"{host!r} resolves to"
            raise UrlRefused(f"{subject} {reason}")
    return Target(url=parsed, address=addresses[0])


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80

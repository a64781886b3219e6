"""Where a webhook may be sent: the server-side request forgery guard.

A URL is checked when an endpoint is created or changed, and its host is resolved again at
every delivery attempt: the attempt connects to the very address that passed the check (the
name only goes in the Host header and TLS's server name), so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot send it anywhere else.

Refused unless `NEURONAL_WEBHOOK_ALLOW_PRIVATE_URLS=true`: every address that is not globally
routable (loopback, RFC 1918 and unique-local private ranges, link-local — which holds the
cloud metadata service at 169.254.169.254 —, carrier-grade NAT, documentation and benchmark
ranges, unspecified, reserved) and multicast, also when written as an IPv4-mapped IPv6 address.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from service.core.errors import InvalidInput, field_error

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(ValueError):
    """The URL's host is, or resolves to, an address webhooks may not be sent to."""


@dataclass(frozen=True)
class Target:
    """Where one delivery attempt connects: the checked address, and the URL's own parts."""

    scheme: str
    host: str  # as written in the URL: the Host header and the TLS server name
    port: int
    address: str  # the resolved address that passed the check
    path: str  # path and query

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = {"http": 80, "https": 443}[self.scheme]
        literal = f"[{self.host}]" if ":" in self.host else self.host
        return literal if self.port == default else f"{literal}:{self.port}"


def validate_url(url: str, *, allow_private: bool) -> str:
    """`url` if webhooks may be sent there; InvalidInput (422) saying why not otherwise."""
    try:
        resolve(url, allow_private=allow_private)
    except BlockedAddress as exc:
        raise InvalidInput(str(exc), errors=[field_error(["body", "url"], str(exc))]) from None
    return url


def resolve(url: str, *, allow_private: bool) -> Target:
    """The checked target of `url`; BlockedAddress naming what is wrong with it."""
    parts = _parts(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _checked_address(host, port, allow_private=allow_private)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, address, path)


def _parts(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise BlockedAddress(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError as exc:
        raise BlockedAddress(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddress(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise BlockedAddress("the URL must not carry a user name or password")
    if parts.fragment:
        raise BlockedAddress("the URL must not carry a #fragment")
    return parts


def _checked_address(host: str, port: int, *, allow_private: bool) -> str:
    """The first address `host` resolves to, when every one of them is allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedAddress(f"the host {host!r} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise BlockedAddress(f"the host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise BlockedAddress(
                    f"the host {host!r} resolves to {address}, a loopback, private, link-local "
                    "or otherwise non-public address; webhooks go to public addresses only "
                    "(a server run with NEURONAL_WEBHOOK_ALLOW_PRIVATE_URLS=true allows them)"
                )
    return addresses[0]


def is_public(ip: IPAddress) -> bool:
    """Whether `ip` is globally routable unicast (IPv4-mapped IPv6 judged by its IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast

"""The address guard: which URLs a webhook may be sent to, and where an attempt connects."""

from __future__ import annotations

import ipaddress

import pytest

from service.core.errors import InvalidInput
from service.core.webhook_urls import BlockedAddress, is_public, resolve, validate_url

REFUSED = [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "100.100.100.200", "0.0.0.0", "224.0.0.1", "240.0.0.1", "192.0.2.1", "::1", "fe80::1",
    "fc00::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "ff02::1", "::",
]  # fmt: skip
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(BlockedAddress, match="NEURONAL_WEBHOOK_ALLOW_PRIVATE_URLS"):
        resolve(f"http://{literal}/hook", allow_private=False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    with pytest.raises(BlockedAddress, match="resolves to"):
        resolve("http://localhost:8080/x", allow_private=False)
    target = resolve("http://localhost:8080/x?a=1", allow_private=True)
    assert target.address in ("127.0.0.1", "::1") and target.host == "localhost"
    assert target.host_header == "localhost:8080" and target.path == "/x?a=1"


def test_an_attempt_connects_to_the_checked_address_with_the_name_as_host() -> None:
    target = resolve("https://[::1]/hook", allow_private=True)
    assert target.connect_url == "https://[::1]:443/hook"
    assert target.host_header == "[::1]"
    target = resolve("http://127.0.0.1:9000", allow_private=True)
    assert target.connect_url == "http://127.0.0.1:9000/"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/x", "http"),
        ("http:///nohost", "http"),
        ("http://user:pw@example.com/", "user name"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://example.com/#frag", "fragment"),
        ("http://name.invalid/", "does not resolve"),
        ("http://" + "a" * 2000 + ".com/", "longer than"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url: str, says: str) -> None:
    with pytest.raises(BlockedAddress, match=says):
        resolve(url, allow_private=True)


def test_validation_is_a_422_naming_the_url_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_url("http://10.0.0.1/", allow_private=False)
    assert refused.value.status == 422
    assert refused.value.errors == [{"loc": ["body", "url"], "msg": str(refused.value)}]

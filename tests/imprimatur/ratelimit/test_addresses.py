"""The client's address: the socket peer, unless it is a trusted proxy; then the first
untrusted hop of X-Forwarded-For from the right."""

import re

import pytest
from django.test import RequestFactory

from imprimatur.ratelimit.addresses import address_bucket, client_address, trusted_networks


def address(settings, remote: str, forwarded: str | None = None, trusted=()) -> str:
    settings.IMPRIMATUR_TRUSTED_PROXIES = list(trusted)
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_without_trusted_proxies_the_header_is_ignored(settings):
    assert address(settings, "198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_name_another_client(settings):
    got = address(settings, "198.51.100.7", "203.0.113.9, 10.0.0.3", trusted=["10.0.0.0/8"])
    assert got == "198.51.100.7"


def test_from_a_trusted_proxy_the_first_untrusted_hop_from_the_right_is_the_client(settings):
    # The client wrote "1.1.1.1" itself; its proxy appended 203.0.113.9, an inner proxy 10.0.0.7.
    chain = "1.1.1.1, 203.0.113.9, 10.0.0.7"
    assert address(settings, "10.0.0.5", chain, trusted=["10.0.0.0/8"]) == "203.0.113.9"
    # Several headers arrive joined by commas; a single trusted address works like a network.
    assert address(settings, "192.0.2.1", "203.0.113.9", trusted=["192.0.2.1"]) == "203.0.113.9"


def test_a_trusted_proxy_without_the_header_is_itself_the_client(settings):
    assert address(settings, "10.0.0.5", None, trusted=["10.0.0.0/8"]) == "10.0.0.5"
    assert address(settings, "10.0.0.5", "10.0.0.9, 10.0.0.8", trusted=["10.0.0.0/8"]) == (
        "10.0.0.9"
    )


def test_ports_brackets_and_ipv4_mapped_addresses_are_read(settings):
    trusted = ["10.0.0.0/8", "fd00::/8"]
    assert address(settings, "10.0.0.5", "203.0.113.9:4711", trusted=trusted) == "203.0.113.9"
    assert address(settings, "fd00::1", "[2001:db8::5]:443", trusted=trusted) == "2001:db8::5"
    assert address(settings, "::ffff:198.51.100.7") == "198.51.100.7"
    # Garbage where a trusted proxy's hop should be: the last address read stands.
    assert address(settings, "10.0.0.5", "203.0.113.9, nonsense", trusted=trusted) == "10.0.0.5"


def test_an_ipv6_client_is_counted_by_its_64_network():
    assert address_bucket("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_bucket("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_bucket("198.51.100.7") == "198.51.100.7"


def test_a_bad_trusted_proxy_is_named():
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300'")):
        trusted_networks(["10.0.0.0/8", "10.0.0.300"])

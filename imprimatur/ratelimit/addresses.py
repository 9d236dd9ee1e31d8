"""The client's address: the one function everything that keys on "who is asking" uses.

``REMOTE_ADDR`` is the socket peer (gunicorn and runserver never rewrite it). A header
such as ``X-Forwarded-For`` is believed only when that peer is one of
``IMPRIMATUR_TRUSTED_PROXIES`` (addresses or networks, default none): then the header is
read from the right, each trusted proxy's hop skipped, and the first address that is not a
trusted proxy is the client. A client may put anything at the left of the header; the hops
its proxies appended on the right are the only ones it cannot forge.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(values) -> tuple[IPNetwork, ...]:
    """``values`` (addresses or CIDR networks) parsed; ValueError names a bad one."""
    networks = []
    for value in values:
        value = str(value).strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address or network (such as 10.0.0.0/8 or 2001:db8::1)."
            ) from None
    return tuple(networks)


@lru_cache(maxsize=8)
def _trusted(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return trusted_networks(values)


def parse_address(text: str) -> IPAddress | None:
    """An address from a header hop or REMOTE_ADDR: ``1.2.3.4``, ``1.2.3.4:443``, ``::1``,
    ``[::1]:443``; an IPv4-mapped IPv6 address becomes IPv4. None when it is none of these."""
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(request) -> str:
    """The address of the client that sent ``request`` (see the module's docstring); ""
    when even the socket peer is unknown."""
    remote_text = request.META.get("REMOTE_ADDR", "")
    remote = parse_address(remote_text)
    if remote is None:
        return remote_text.strip()[:64]
    networks = _trusted(tuple(settings.IMPRIMATUR_TRUSTED_PROXIES))
    if not networks or not _is_trusted(remote, networks):
        return str(remote)
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client = remote
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # Garbage right of every untrusted hop: a trusted proxy wrote it, so the last
            # address we could read is the best we know.
            break
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


def address_bucket(address: str) -> str:
    """What a per-address limit counts under: the IPv4 address, or the /64 network of an
    IPv6 address (one subscriber usually holds a whole /64 and could rotate through it)."""
    parsed = parse_address(address)
    if parsed is None:
        return address or "unknown"
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)

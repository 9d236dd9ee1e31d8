"""Where a webhook may go: http or https, and (unless ``IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE``)
only to public internet addresses, so that an endpoint cannot make the platform call its
own network (SSRF). The name is resolved when the endpoint is saved and again at every
send, and the request goes to the very address that was checked (no second lookup that a
rebinding DNS server could answer differently)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


class AddressRefused(Exception):
    """The endpoint's address is not one the platform sends to."""


def _address_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


def url_parts(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an endpoint URL; AddressRefused if it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"Not a valid URL: {exc}.") from exc
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("Use an http:// or https:// URL.")
    if not parts.hostname:
        raise AddressRefused("The URL names no host.")
    if parts.username or parts.password:
        raise AddressRefused("Put no user name or password in the URL.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def address_resolve(host: str, port: int) -> str:
    """The address to connect to for ``host``: every address the name resolves to must be
    allowed (one private answer refuses the whole name)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"The host {host!r} does not resolve: {exc}.") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise AddressRefused(f"The host {host!r} has no address.")
    if not settings.IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE:
        refused = [str(a) for a in addresses if not _address_public(a)]
        if refused:
            raise AddressRefused(
                f"The host {host!r} resolves to a private, loopback or reserved address "
                f"({', '.join(refused)}): webhooks go only to public addresses."
            )
    return str(addresses[0])


def url_check(url: str) -> None:
    """Refuse, as a ValidationError on ``url``, an address the platform would not send to."""
    try:
        _, host, port = url_parts(url)
        address_resolve(host, port)
    except AddressRefused as exc:
        raise ValidationError({"url": str(exc)}) from exc

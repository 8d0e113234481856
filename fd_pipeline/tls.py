"""Where a secret may travel: over TLS, or over plain http only to this machine.

One rule for every API key the project sends (Freshdesk's, Qdrant's): http:// is fine to a
loopback address (an emulator, a local server), never to another host.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback", "plain_http_to_remote"]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_http_to_remote(url: str) -> str | None:
    """The host `url` would carry a secret to in clear (http:// to anything but loopback), else None."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        return parts.hostname or url
    return None

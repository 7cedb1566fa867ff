"""Requests FMS makes to URLs an admin typed (IdP discovery, keys, metadata; later
webhooks): http(s) only, and no private, loopback or link-local address."""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

from flask import current_app

from fms.errors import InvalidInput


def allowed_hosts() -> set[str]:
    """Hosts on private or loopback addresses that admins may still point FMS at.

    FMS_SSO_ALLOWED_HOSTS (space or comma separated, e.g. "127.0.0.1 127.0.0.2");
    tests and development set it, production leaves it empty.
    """
    raw = current_app.config.get("FMS_SSO_ALLOWED_HOSTS")
    if raw is None:
        raw = os.environ.get("FMS_SSO_ALLOWED_HOSTS", "")
    if isinstance(raw, list | tuple | set):
        return {h.strip().lower() for h in raw if h.strip()}
    return {h.strip().lower() for h in raw.replace(",", " ").split() if h.strip()}


def check_outbound_url(url: str, *, field: str = "issuer") -> str:
    """An admin-typed URL FMS will fetch: http(s) only, and no private, loopback or
    link-local address unless FMS_SSO_ALLOWED_HOSTS names the host (no SSRF into the LAN)."""
    parts = urlsplit((url or "").strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput("Enter a full https:// address.", errors={field: ["Not a URL."]})
    if host in allowed_hosts():
        return url.strip()
    if parts.scheme != "https":
        raise InvalidInput(
            "Identity provider addresses must use https.", errors={field: ["Use https://."]}
        )
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise InvalidInput(
            f"{host} cannot be found.", errors={field: ["The host name does not resolve."]}
        ) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise InvalidInput(
                f"{host} is a private or local address; FMS does not fetch from those.",
                errors={field: ["Private and local addresses are refused."]},
            )
    return url.strip()

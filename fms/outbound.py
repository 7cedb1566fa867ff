"""Requests FMS makes to URLs an admin typed (IdP discovery, keys, token and userinfo
endpoints, SAML metadata; later webhooks): http(s) only, no private, loopback or
link-local address, and the address that was checked is the one connected to.

Checking a name and then letting the HTTP library resolve it again leaves a gap: a DNS
server that answers a public address to the check and 127.0.0.1 to the fetch (DNS
rebinding) walks FMS into the LAN. So the name is resolved once, every address it resolves
to is checked, and the connection goes to that IP; the Host header, TLS SNI and the
certificate's hostname check keep the original name. Redirects are never followed (a
redirect is another URL nobody checked), proxies from the environment are ignored (a proxy
resolves names itself), and answers have a timeout and a size cap.

`session()` gives a requests.Session with the pinning adapter mounted; authlib's
OAuth2Session is a requests.Session, so it gets the same adapter through `mount_pinned`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter

from fms.errors import InvalidInput

DEFAULT_TIMEOUT = (5, 10)  # connect, read (seconds)
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
_PIN_ATTRIBUTE = "_fms_pinned_host"


class ResponseTooLarge(requests.RequestException):
    """The answer is bigger than FMS reads from an admin-configured URL."""


class RedirectRefused(requests.RequestException):
    """The server answered with a redirect; FMS does not follow them."""


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


def _checked(url: str, *, field: str) -> tuple[str, str]:
    """(url, pinned IP): the URL's form checked, its host resolved once and every address
    checked. Raises InvalidInput with a field error otherwise."""
    try:  # "https://[::1" (unbalanced), "https://[abc]/", ports out of range or not numbers
        parts = urlsplit((url or "").strip())
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(
            "Enter a full https:// address.", errors={field: ["Not a URL."]}
        ) from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput("Enter a full https:// address.", errors={field: ["Not a URL."]})
    allowed = host in allowed_hosts()
    if parts.scheme != "https" and not allowed:
        raise InvalidInput(
            "Identity provider addresses must use https.", errors={field: ["Use https://."]}
        )
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        raise InvalidInput(
            f"{host} cannot be found.", errors={field: ["The host name does not resolve."]}
        ) from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not allowed and not address.is_global:
            raise InvalidInput(
                f"{host} is a private or local address; FMS does not fetch from those.",
                errors={field: ["Private and local addresses are refused."]},
            )
        addresses.append(str(address))
    if not addresses:
        raise InvalidInput(
            f"{host} cannot be found.", errors={field: ["The host name does not resolve."]}
        )
    return url.strip(), addresses[0]


def check_outbound_url(url: str, *, field: str = "issuer") -> str:
    """An admin-typed URL FMS will fetch: http(s) only, and no private, loopback or
    link-local address unless FMS_SSO_ALLOWED_HOSTS names the host (no SSRF into the LAN).

    A check at save time for a clear field error; every fetch checks (and pins) again."""
    return _checked(url, field=field)[0]


class PinnedAdapter(HTTPAdapter):
    """Connects to the address that passed the check, keeping the name for Host, SNI and
    certificate verification; caps the answer's size."""

    def __init__(self, *, field: str = "url", max_bytes: int = MAX_RESPONSE_BYTES, **kwargs):
        self.field = field
        self.max_bytes = max_bytes
        super().__init__(**kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        original_url = request.url
        parts = urlsplit(original_url)
        _, address = _checked(original_url, field=self.field)
        literal = f"[{address}]" if ":" in address else address
        netloc = literal + (f":{parts.port}" if parts.port else "")
        request.url = urlunsplit(parts._replace(netloc=netloc))
        host_header = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        request.headers["Host"] = host_header + (f":{parts.port}" if parts.port else "")
        setattr(request, _PIN_ATTRIBUTE, parts.hostname)
        try:
            response = super().send(
                request,
                stream=True,
                timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
                verify=verify,
                cert=cert,
                proxies=None,  # a proxy would resolve the name again
            )
        finally:
            request.url = original_url
        response.url = original_url
        self._read_capped(response)
        return response

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        name = getattr(request, _PIN_ATTRIBUTE, None)
        if name and host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = name  # SNI
            pool_kwargs["assert_hostname"] = name  # the certificate must name the host
        return host_params, pool_kwargs

    def _read_capped(self, response) -> None:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response.close()
            raise ResponseTooLarge(f"answer of {declared} bytes refused", response=response)
        body = bytearray()
        try:
            for chunk in response.iter_content(64 * 1024):
                body.extend(chunk)
                if len(body) > self.max_bytes:
                    raise ResponseTooLarge("answer too large", response=response)
        finally:
            response.close()
        response._content = bytes(body)
        response._content_consumed = True


def mount_pinned(
    http: requests.Session, *, field: str = "url", max_bytes: int = MAX_RESPONSE_BYTES
) -> requests.Session:
    """Make a requests.Session (or authlib's OAuth2Session) fetch only checked, pinned
    addresses, without redirects or environment proxies."""
    adapter = PinnedAdapter(field=field, max_bytes=max_bytes)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    http.trust_env = False
    # a redirect comes back as the 3xx answer it is, never followed
    http.get_redirect_target = lambda response: None
    bundle = current_app.config.get("FMS_OUTBOUND_CA_BUNDLE")
    if bundle:  # an enterprise CA for IdPs with internal certificates
        http.verify = bundle
    return http


def session(*, field: str = "url", max_bytes: int = MAX_RESPONSE_BYTES) -> requests.Session:
    """A requests.Session for admin-configured URLs."""
    return mount_pinned(requests.Session(), field=field, max_bytes=max_bytes)


def fetch(
    url: str,
    *,
    field: str = "url",
    method: str = "GET",
    headers: dict | None = None,
    data=None,
    timeout=DEFAULT_TIMEOUT,
    max_bytes: int = MAX_RESPONSE_BYTES,
    verify=None,
) -> requests.Response:
    """One request to an admin-configured URL. InvalidInput when the URL is refused;
    requests.RequestException (RedirectRefused, ResponseTooLarge, ...) when it fails."""
    with session(field=field, max_bytes=max_bytes) as http:
        if verify is not None:
            http.verify = verify
        response = http.request(
            method, url, headers=headers, data=data, timeout=timeout, allow_redirects=False
        )
    if response.is_redirect or response.is_permanent_redirect:
        raise RedirectRefused("redirect not followed", response=response)
    return response

"""OpenID Connect relying party: one client per connection, built from the database.

authlib (OAuth2Session) builds the authorization request with PKCE and exchanges the code;
the ID token is verified here with joserfc (authlib's own JOSE successor) under rules we
set ourselves instead of taking them from the discovery document: the issuer the admin
configured (the discovery document must name the same one: every tenant brings its own
IdP, so a mix-up must fail), an algorithm allow-list that never contains `none` or HMAC,
keys only from the IdP's JWKS (refetched once on an unknown `kid`, which is how rotation
looks), and `aud`, `exp`, `nbf`, `iat`, `nonce` checked.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from fms import outbound
from fms.encryption import decrypt
from fms.errors import InvalidInput
from fms.identity.sso.models import CLIENT_AUTH_METHODS, SsoConnection
from fms.outbound import check_outbound_url

# asymmetric algorithms only: HMAC would make the public client secret a signing key
SUPPORTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
MAX_TOKEN_BYTES = 16 * 1024  # refuse oversized tokens before parsing them
LEEWAY_SECONDS = 60
HTTP_TIMEOUT = 10
_CACHE_SECONDS = 600
_cache: dict[tuple[str, str], tuple[float, object]] = {}
_cache_lock = threading.Lock()

log = logging.getLogger(__name__)


class OidcError(Exception):
    """The identity provider's answer cannot be trusted; `reason` goes to the audit log."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    token_auth_methods: tuple[str, ...]


def _cached(kind: str, key: str, load, *, refresh: bool = False):
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get((kind, key))
    if hit and not refresh and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    value = load()
    with _cache_lock:
        _cache[(kind, key)] = (now, value)
    return value


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _get_json(url: str, *, field: str) -> dict:
    try:
        response = outbound.fetch(url, field=field, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        # the details stay in the log: shown to an admin they would map internal hosts
        log.warning("identity provider request to %r failed: %r", url, exc)
        raise OidcError("idp_unreachable", "The identity provider did not answer.") from None
    if not isinstance(data, dict):
        raise OidcError("idp_bad_answer", "The identity provider answered something unexpected.")
    return data


def discover(connection: SsoConnection, *, refresh: bool = False) -> Provider:
    """The provider's endpoints, from its discovery document, whose issuer must be ours."""
    issuer = connection.issuer or ""

    def load() -> Provider:
        doc = discovery_document(issuer)
        return Provider(
            issuer=doc["issuer"],
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
            jwks_uri=doc["jwks_uri"],
            userinfo_endpoint=doc.get("userinfo_endpoint"),
            end_session_endpoint=doc.get("end_session_endpoint"),
            token_auth_methods=tuple(
                doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            ),
        )

    return _cached("discovery", issuer, load, refresh=refresh)


def discovery_document(issuer: str) -> dict:
    """The issuer's discovery document (not cached), once it names that same issuer and
    has the endpoints FMS needs at addresses FMS may fetch."""
    doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", field="issuer")
    if doc.get("issuer") != issuer:
        raise OidcError(
            "issuer_mismatch",
            f"The identity provider's discovery document names another issuer "
            f"({str(doc.get('issuer'))[:200]!r}).",
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(doc.get(name), str):
            raise OidcError("idp_bad_answer", f"The discovery document has no {name}.")
        check_outbound_url(doc[name], field="issuer")
    return doc


def _key_set(provider: Provider, *, refresh: bool = False) -> KeySet:
    def load() -> KeySet:
        data = _get_json(provider.jwks_uri, field="issuer")
        # only public signing keys: a JWKS carrying private or symmetric keys is refused
        keys = [k for k in data.get("keys", []) if k.get("kty") in ("RSA", "EC")]
        try:
            return KeySet.import_key_set({"keys": keys})
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcError(
                "idp_bad_answer", f"The identity provider's keys are unusable: {exc}"
            ) from None

    return _cached("jwks", provider.jwks_uri, load, refresh=refresh)


def auth_method(connection: SsoConnection) -> str:
    """How FMS authenticates at the token endpoint: the connection's choice, no guessing."""
    method = connection.token_endpoint_auth_method or "client_secret_basic"
    return method if method in CLIENT_AUTH_METHODS else "client_secret_basic"


def _client(connection: SsoConnection, provider: Provider, redirect_uri: str) -> OAuth2Session:
    client = OAuth2Session(
        client_id=connection.client_id,
        client_secret=decrypt(connection.client_secret_encrypted),
        scope=connection.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method(connection),
    )
    # the token endpoint is an admin-configured URL like any other: checked and pinned
    outbound.mount_pinned(client, field="issuer")
    return client


def authorization_url(
    connection: SsoConnection, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
) -> str:
    """Where to send the browser: authorization code flow with PKCE (S256), state, nonce."""
    provider = discover(connection)
    client = _client(connection, provider, redirect_uri)
    url, _ = client.create_authorization_url(
        provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier
    )
    return url


def exchange_code(
    connection: SsoConnection, *, redirect_uri: str, code: str, code_verifier: str
) -> dict:
    """Trade the authorization code (with the PKCE verifier) for tokens."""
    provider = discover(connection)
    client = _client(connection, provider, redirect_uri)
    method = auth_method(connection)
    try:
        return dict(
            client.fetch_token(
                provider.token_endpoint,
                code=code,
                code_verifier=code_verifier,
                grant_type="authorization_code",
                timeout=HTTP_TIMEOUT,
            )
        )
    except AuthlibBaseError as exc:
        error = str(exc.error or "error")[:60]
        # the IdP's error code and our method only: never the request (it holds the secret)
        log.warning(
            "OIDC code exchange refused for connection %r: %s (client authentication %s)",
            connection.id,
            error,
            method,
        )
        if error == "invalid_client":
            raise OidcError(
                "invalid_client",
                f"The identity provider refused FMS's client credentials (invalid_client). "
                f"This connection authenticates with {method}; check the client ID and "
                f"secret, and that the IdP expects {method}.",
            ) from None
        raise OidcError("token_exchange_failed", f"The code exchange failed ({error}).") from None
    except (requests.RequestException, InvalidInput, ValueError) as exc:
        log.warning(
            "OIDC code exchange failed for connection %r: %s", connection.id, type(exc).__name__
        )
        raise OidcError("token_exchange_failed", "The code exchange failed.") from None


def validate_id_token(connection: SsoConnection, id_token: str, *, nonce: str) -> dict:
    """The ID token's claims, once its signature, issuer, audience, times and nonce hold."""
    provider = discover(connection)
    if not isinstance(id_token, str) or len(id_token) > MAX_TOKEN_BYTES:
        raise OidcError("bad_id_token", "The identity provider sent no usable ID token.")
    try:
        header = extract_compact(id_token.encode()).protected
    except (JoseError, ValueError) as exc:
        raise OidcError("bad_id_token", f"The ID token cannot be read: {exc}") from None
    allowed = [a for a in (connection.algorithms or []) if a in SUPPORTED_ALGORITHMS]
    if header.get("alg") not in allowed:
        raise OidcError(
            "algorithm_refused", f"The ID token's algorithm {header.get('alg')!r} is not allowed."
        )
    keys = _key_set(provider)
    kid = header.get("kid")
    if kid is not None and not any(k.kid == kid for k in keys.keys):
        keys = _key_set(provider, refresh=True)  # the IdP rotated its keys
    try:
        token = jwt.decode(id_token, keys, algorithms=allowed)
    except (JoseError, ValueError) as exc:
        raise OidcError(
            "bad_signature", f"The ID token's signature does not verify: {exc}"
        ) from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": connection.issuer},
        aud={"essential": True, "value": connection.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcError(
            f"claim_{getattr(exc, 'claim', 'invalid')}",
            f"The ID token was refused: {exc.description or exc.error}.",
        ) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != connection.client_id:
        raise OidcError("claim_azp", "The ID token was issued to another client.")
    return claims


def fetch_userinfo(connection: SsoConnection, access_token: str, *, subject: str) -> dict:
    """Userinfo claims (email and groups often come only from here); same `sub` required."""
    provider = discover(connection)
    if not provider.userinfo_endpoint or not access_token:
        return {}
    try:
        response = outbound.fetch(
            provider.userinfo_endpoint,
            field="issuer",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        info = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("OIDC userinfo failed: %r", exc)
        raise OidcError("userinfo_failed", "Reading the user's profile failed.") from None
    if not isinstance(info, dict) or info.get("sub") != subject:
        raise OidcError("userinfo_subject", "The profile belongs to another user.")
    return info


def end_session_url(
    connection: SsoConnection, *, id_token_hint: str | None, post_logout_redirect_uri: str
) -> str | None:
    """RP-initiated logout at the IdP, when it advertises an end_session_endpoint."""
    from urllib.parse import urlencode

    try:
        provider = discover(connection)
    except Exception:  # logout at FMS must work even when the IdP is down
        return None
    if not provider.end_session_endpoint:
        return None
    params = {
        "post_logout_redirect_uri": post_logout_redirect_uri,
        "client_id": connection.client_id,
    }
    if id_token_hint:
        params["id_token_hint"] = id_token_hint
    return provider.end_session_endpoint + "?" + urlencode(params)


def _key_algorithm(key: dict) -> str:
    if key.get("alg"):
        return str(key["alg"])
    if key.get("kty") == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(key.get("crv"), "EC")
    return str(key.get("kty") or "?")


def probe(connection: SsoConnection) -> dict:
    """ "Test connection": read discovery and JWKS now (no cache) and say what was found.

    Returns {"ok": bool, "findings": [{"level": "ok"|"warning"|"error", "text": str}],
    "details": {...}}; never raises for what the IdP answers."""
    findings: list[dict] = []
    details: dict = {"issuer": connection.issuer}

    def note(level: str, text: str) -> None:
        findings.append({"level": level, "text": text})

    issuer = connection.issuer or ""
    try:
        doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", field="issuer")
    except (OidcError, InvalidInput) as exc:
        text = exc.message if isinstance(exc, OidcError) else exc.detail
        note("error", f"Discovery document not read: {text}")
        return {"ok": False, "findings": findings, "details": details}
    named = doc.get("issuer")
    details["discovered_issuer"] = named
    if named == issuer:
        note("ok", f"Issuer matches: {issuer}")
    else:
        note(
            "error",
            f"Issuer does not match: the IdP names {str(named)[:200]!r}, FMS has {issuer!r}.",
        )
    endpoints = {}
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ):
        value = doc.get(name)
        endpoints[name] = value if isinstance(value, str) else None
        if value is None and name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            note("error", f"The discovery document has no {name}.")
    details["endpoints"] = endpoints
    if endpoints["userinfo_endpoint"] is None:
        note("warning", "No userinfo endpoint: email and groups must come in the ID token.")
    if endpoints["end_session_endpoint"] is None:
        note("warning", "No end_session_endpoint: signing out of FMS leaves the IdP session.")
    methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    details["token_endpoint_auth_methods_supported"] = list(methods)
    chosen = auth_method(connection)
    if chosen in methods:
        note("ok", f"Client authentication {chosen} is supported.")
    else:
        note(
            "warning",
            f"This connection uses {chosen}, which the IdP does not list "
            f"(it lists {', '.join(map(str, methods))}).",
        )
    scopes = doc.get("scopes_supported")
    details["scopes_supported"] = scopes
    if isinstance(scopes, list):
        if "groups" in scopes:
            note("ok", "The IdP offers the groups scope.")
        else:
            note(
                "warning",
                "scopes_supported does not list groups: the IdP may send groups another way "
                "(a claim set up at the IdP), or not at all.",
            )
    if endpoints["jwks_uri"]:
        try:
            check_outbound_url(endpoints["jwks_uri"], field="issuer")
            jwks = _get_json(endpoints["jwks_uri"], field="issuer")
        except (OidcError, InvalidInput) as exc:
            text = exc.message if isinstance(exc, OidcError) else exc.detail
            note("error", f"Signing keys (JWKS) not read: {text}")
        else:
            keys = [k for k in jwks.get("keys", []) if isinstance(k, dict)]
            algorithms = sorted({_key_algorithm(k) for k in keys})
            details["keys"] = [
                {"kid": k.get("kid"), "kty": k.get("kty"), "alg": _key_algorithm(k)} for k in keys
            ]
            usable = [a for a in algorithms if a in (connection.algorithms or [])]
            level = "ok" if usable else "error"
            note(
                level,
                f"{len(keys)} signing key(s): {', '.join(algorithms) or 'none'}"
                + ("" if usable else " — none of them uses an algorithm this connection accepts."),
            )
    ok = not any(f["level"] == "error" for f in findings)
    return {"ok": ok, "findings": findings, "details": details}

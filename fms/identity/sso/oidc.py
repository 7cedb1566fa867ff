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
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from fms.encryption import decrypt
from fms.identity.sso.models import SsoConnection
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
    check_outbound_url(url, field=field)
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False)
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
        doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", field="issuer")
        if doc.get("issuer") != issuer:
            raise OidcError(
                "issuer_mismatch",
                "The identity provider's discovery document names another issuer.",
            )
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(name), str):
                raise OidcError("idp_bad_answer", f"The discovery document has no {name}.")
            check_outbound_url(doc[name], field="issuer")
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


def _client(connection: SsoConnection, provider: Provider, redirect_uri: str) -> OAuth2Session:
    method = (
        "client_secret_basic"
        if "client_secret_basic" in provider.token_auth_methods
        else "client_secret_post"
    )
    return OAuth2Session(
        client_id=connection.client_id,
        client_secret=decrypt(connection.client_secret_encrypted),
        scope=connection.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
    )


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
    check_outbound_url(provider.token_endpoint, field="issuer")
    client = _client(connection, provider, redirect_uri)
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
    except Exception as exc:  # authlib raises OAuthError, requests its own: both mean "no"
        log.warning("OIDC code exchange failed: %r", exc)
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
    check_outbound_url(provider.userinfo_endpoint, field="issuer")
    try:
        response = requests.get(
            provider.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
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

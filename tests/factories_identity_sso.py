"""Factories of the identity sso area: fixtures, and id factories for the tenancy route walk.

The OIDC tests sign in against a real OpenID Provider (npm `oidc-provider`, started from
tests/idp/oidc-idp.mjs on 127.0.0.1). The test client plays FMS's side; a `requests`
session plays the browser at the IdP, and hands the IdP's redirect back to the test client.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from fms.encryption import encrypt
from fms.identity.sso import oidc
from fms.identity.sso.models import SsoConnection, SsoDomain
from tests.factories import as_org

IDP_DIR = Path(__file__).resolve().parent / "idp"
FMS_BASE = "http://127.0.0.1:5000"
CLIENT_SECRET = "fms-test-idp-client-secret"


def unavailable(reason: str):
    """A fixture's component is missing: skip, or fail under FMS_REQUIRE_SERVICES=1 (the rule
    tests/conftest.py applies to markers, kept for what only a fixture can find out)."""
    if os.environ.get("FMS_REQUIRE_SERVICES") == "1":
        pytest.fail("FMS_REQUIRE_SERVICES=1 but " + reason)
    pytest.skip(reason)


def missing_component(marker: str) -> str | None:
    """Why the real IdP (or the browser) cannot run here, or None."""
    if marker == "idp":
        node = shutil.which("node")
        if not node:
            return "needs Node.js >= 20 for oidc-provider"
        if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            return "needs `npm install` in tests/idp (make test does it)"
        try:
            import saml2  # noqa: F401
        except ImportError:
            return "needs pysaml2"
        return None
    if marker == "browser":
        if not shutil.which("chromium"):
            return "needs Debian's chromium"
        try:
            import playwright  # noqa: F401
        except ImportError:
            return "needs the playwright package"
    return None


def missing_xmlsec1() -> str | None:
    return None if shutil.which("xmlsec1") else "needs xmlsec1 (apt install xmlsec1)"


_invitees = itertools.count(1)

ID_FACTORIES: dict = {
    "connection_id": lambda f, org: f.make_oidc_connection(org, issuer="https://idp.example").id,
    "domain_id": lambda f, org: f.make_sso_domain(org, verified=False).id,
    "token_id": lambda f, org: f.make_scim_token(org).id,
    # one address each: an organization takes one open invitation per address, and two
    # routes take an invitation id (the page's withdraw and the API's revocation)
    "invitation_id": lambda f, org: (
        f.make_invitation(org, email=f"invitee{next(_invitees)}@freelance.example")[0].id
    ),
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class OidcIdp:
    """The running test OpenID Provider."""

    def __init__(self, process, issuer: str, signing_key: dict):
        self.process = process
        self.issuer = issuer
        self.signing_key = signing_key  # private JWK: tests sign tokens "as the IdP"
        self.client_id = "fms"
        self.client_secret = CLIENT_SECRET

    def add_accounts(self, accounts: dict) -> None:
        requests.post(f"{self.issuer}/_test/accounts", json=accounts, timeout=5).raise_for_status()

    def rotate_keys(self) -> None:
        requests.post(f"{self.issuer}/_test/rotate", timeout=5).raise_for_status()


def _start_oidc_idp(**extra_env):
    reason = missing_component("idp")
    if reason:
        unavailable(reason)
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "test-idp-key-1", "alg": "RS256"})
    private_jwk = key.as_dict(private=True)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORT": str(port),
        "FMS_IDP_TEST_ROUTES": "1",
        "CLIENT_SECRET": CLIENT_SECRET,
        "FMS_REDIRECT_URIS": f"{FMS_BASE}/sso/oidc/callback",
        "FMS_POST_LOGOUT_URIS": f"{FMS_BASE}/login",
        "IDP_SIGNING_KEY": json.dumps(private_jwk),
        **extra_env,
    }
    process = subprocess.Popen(
        ["node", str(IDP_DIR / "oidc-idp.mjs")],
        cwd=IDP_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                process.kill()
                pytest.fail(f"the test OpenID Provider did not start:\n{output}")
            time.sleep(0.1)
    return OidcIdp(process, issuer, private_jwk)


def _stop(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def oidc_idp():
    """oidc-provider on 127.0.0.1 (a free port), for the whole test session; its client
    authenticates with client_secret_basic."""
    idp = _start_oidc_idp()
    yield idp
    _stop(idp.process)


@pytest.fixture(scope="session")
def oidc_idp_post():
    """A second oidc-provider whose client is registered for client_secret_post."""
    idp = _start_oidc_idp(CLIENT_AUTH_METHOD="client_secret_post")
    yield idp
    _stop(idp.process)


@pytest.fixture
def sso_allowed_loopback(app, monkeypatch):
    """Tests point connections at 127.0.0.1: allow it, as development does."""
    monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1 127.0.0.2")
    monkeypatch.setitem(app.config, "FMS_BASE_URL", FMS_BASE)
    oidc.clear_cache()
    yield
    oidc.clear_cache()


@pytest.fixture
def make_oidc_connection(session):
    def make(org, *, issuer: str, **overrides) -> SsoConnection:
        values = {
            "org_id": org.id,
            "name": "Test IdP",
            "protocol": "oidc",
            "audience": "staff",
            "issuer": issuer,
            "client_id": "fms",
            "client_secret_encrypted": encrypt(CLIENT_SECRET),
            "scopes": "openid email profile groups",
        }
        values.update(overrides)
        with as_org(session, org.id):
            connection = SsoConnection(**values)
            session.add(connection)
            session.flush()
        return connection

    return make


@pytest.fixture
def make_sso_domain(session):
    counter = iter(range(1, 10_000))

    def make(org, domain: str | None = None, *, verified: bool = True) -> SsoDomain:
        from fms.timekeeping import utcnow

        domain = domain or f"org{org.id}-{next(counter)}.example"
        with as_org(session, org.id):
            claim = SsoDomain(org_id=org.id, domain=domain)
            if verified:
                claim.verified_domain, claim.verified_at = domain, utcnow()
            session.add(claim)
            session.flush()
        return claim

    return make


@pytest.fixture
def make_scim_token(session):
    from fms.identity.sso.scim import services as scim

    def make(org):
        with as_org(session, org.id):
            record, _ = scim.create_token(session, actor=_admin_actor(org), name="IdP")
        return record

    return make


@pytest.fixture
def make_invitation(session):
    """(invitation, link path) in an organization; overrides go to create_invitation."""
    from fms.identity.sso import invitations

    def make(org, email: str = "frank@freelance.example", **overrides):
        with as_org(session, org.id):
            invitation, token = invitations.create_invitation(
                session, actor=_admin_actor(org), email=email, **overrides
            )
        return invitation, f"/invitations/{token}"

    return make


def _admin_actor(org):
    from fms.identity.actor import Actor

    return Actor(user_id=None, org_id=org.id, roles=frozenset({"org_admin"}), channel="cli")


class Browser:
    """Follows redirects like a browser: FMS answers through the Flask test client, the
    IdP through real HTTP. Stops when FMS answers with something other than a redirect."""

    def __init__(self, client):
        self.client = client
        self.idp = requests.Session()
        self.last_idp_page = None

    def go(self, url: str, *, login: str | None = None, max_hops: int = 20):
        for _ in range(max_hops):
            if url.startswith(FMS_BASE) or url.startswith("/"):
                parts = urlsplit(url)
                path = parts.path + ("?" + parts.query if parts.query else "")
                response = self.client.get(path)
                if response.status_code in (301, 302, 303, 307):
                    url = urljoin(FMS_BASE + parts.path, response.headers["Location"])
                    continue
                return response
            response = self.idp.get(url, allow_redirects=False, timeout=10)
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                continue
            self.last_idp_page = response
            if login is None or "<form" not in response.text:
                return response
            action = response.text.split('action="', 1)[1].split('"', 1)[0]
            response = self.idp.post(
                urljoin(url, action), data={"login": login, "password": "x"}, allow_redirects=False
            )
            login = None
            if not response.is_redirect:
                self.last_idp_page = response
                return response
            url = urljoin(url, response.headers["Location"])
        raise AssertionError("too many redirects")

    def callback_url(self, start: str, *, login: str) -> str:
        """Walk to the point where the IdP sends the browser back to FMS; return that URL."""
        url = start
        for _ in range(20):
            if url.startswith(FMS_BASE + "/sso/oidc/callback"):
                return url
            if url.startswith(FMS_BASE) or url.startswith("/"):
                parts = urlsplit(url)
                path = parts.path + ("?" + parts.query if parts.query else "")
                response = self.client.get(path)
                assert response.status_code in (302, 303), response.data[:500]
                url = urljoin(FMS_BASE + parts.path, response.headers["Location"])
                continue
            response = self.idp.get(url, allow_redirects=False, timeout=10)
            if not response.is_redirect and "<form" in response.text:
                action = response.text.split('action="', 1)[1].split('"', 1)[0]
                response = self.idp.post(
                    urljoin(url, action),
                    data={"login": login, "password": "x"},
                    allow_redirects=False,
                )
            assert response.is_redirect, response.text[:500]
            url = urljoin(url, response.headers["Location"])
        raise AssertionError("the IdP never sent the browser back")

    def fms(self, url: str):
        parts = urlsplit(url)
        return self.client.get(parts.path + ("?" + parts.query if parts.query else ""))


# --- SAML ----------------------------------------------------------------------------------


class SamlIdp:
    """The running test SAML IdP (pysaml2) on 127.0.0.2."""

    def __init__(self, process, base: str):
        self.process = process
        self.base = base
        self.entity_id = f"{base}/metadata"

    def metadata(self) -> str:
        return requests.get(f"{self.base}/metadata", timeout=5).text

    def add_accounts(self, accounts: dict) -> None:
        requests.post(f"{self.base}/_test/accounts", json=accounts, timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def saml_idp(tmp_path_factory):
    """tests/idp/saml_idp.py on 127.0.0.2 (another site than FMS on 127.0.0.1)."""
    reason = missing_component("idp") or missing_xmlsec1()
    if reason:
        unavailable(reason)
    import sys

    port = free_port("127.0.0.2")
    base = f"http://127.0.0.2:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            str(IDP_DIR / "saml_idp.py"),
            "--host",
            "127.0.0.2",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path_factory.mktemp("saml-idp")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(f"{base}/metadata", timeout=2).raise_for_status()
            break
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                process.kill()
                pytest.fail(f"the test SAML IdP did not start:\n{output}")
            time.sleep(0.1)
    yield SamlIdp(process, base)
    _stop(process)


@pytest.fixture
def make_saml_connection(session):
    from fms.identity.sso import saml

    def make(org, *, metadata: str, **overrides) -> SsoConnection:
        values = {
            "org_id": org.id,
            "name": "Test SAML IdP",
            "protocol": "saml",
            "audience": "staff",
            "idp_metadata_xml": metadata,
            "idp_entity_id": saml.parse_idp_metadata(metadata),
        }
        values.update(overrides)
        with as_org(session, org.id):
            connection = SsoConnection(**values)
            session.add(connection)
            session.flush()
        return connection

    return make


def saml_form(page: str) -> tuple[str, dict]:
    """The auto-submitting form an IdP answers with: (action, fields)."""
    import html as html_lib
    import re

    action = html_lib.unescape(re.search(r'action="([^"]+)"', page).group(1))
    fields = {
        name: html_lib.unescape(value)
        for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', page)
    }
    return action, fields


# --- a discovery-only OpenID Provider (no node): what saving and testing a connection read ---


class FakeDiscovery:
    """Serves /.well-known/openid-configuration and /jwks on 127.0.0.1; tests change `doc`
    and `jwks` to make it misbehave."""

    def __init__(self, issuer: str):
        self.issuer = issuer
        self.doc = {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/auth",
            "token_endpoint": issuer + "/token",
            "userinfo_endpoint": issuer + "/me",
            "jwks_uri": issuer + "/jwks",
            "end_session_endpoint": issuer + "/session/end",
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "email", "profile"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        from joserfc.jwk import ECKey, RSAKey

        rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "alg": "RS256"})
        ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "alg": "ES256"})
        self.jwks = {"keys": [rsa.as_dict(private=False), ec.as_dict(private=False)]}


@pytest.fixture
def fake_discovery():
    import http.server
    import threading

    port = free_port()
    fake = FakeDiscovery(f"http://127.0.0.1:{port}")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = {
                "/.well-known/openid-configuration": fake.doc,
                "/jwks": fake.jwks,
            }.get(self.path)
            data = json.dumps(body).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake
    server.shutdown()
    server.server_close()

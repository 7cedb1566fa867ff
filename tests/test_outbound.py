"""fms/outbound.py: admin-typed URLs are checked, and the checked address is the one FMS
connects to (no DNS rebinding between check and fetch); Host, SNI and the certificate's
hostname stay the original name."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from fms import outbound
from fms.errors import InvalidInput

REAL_GETADDRINFO = socket.getaddrinfo


def _answer(address: str, port: int):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


@pytest.fixture
def resolver(monkeypatch):
    """Fake DNS: names in `table` answer the listed addresses in turn (the last repeats)."""
    table: dict[str, list[str]] = {}
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if host in table:
            asked.append(host)
            answers = table[host]
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return _answer(address, int(port or 0))
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table, asked


@pytest.fixture
def ctx(app, monkeypatch):
    with app.app_context():
        monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "")
        yield app


def test_a_name_resolving_to_loopback_is_refused_unless_allowed(ctx, resolver, monkeypatch):
    table, _ = resolver
    table["sneaky.example"] = ["127.0.0.1"]
    with pytest.raises(InvalidInput) as refused:
        outbound.check_outbound_url("https://sneaky.example/.well-known/x")
    assert "Private and local addresses are refused." in refused.value.errors["issuer"]
    with pytest.raises(InvalidInput):
        outbound.fetch("https://sneaky.example/x")
    table["public.example"] = ["93.184.215.15"]
    assert outbound.check_outbound_url("https://public.example/") == "https://public.example/"
    # one private address among public ones is enough to refuse
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: _answer("93.184.215.15", 443) + _answer("10.0.0.8", 443),
    )
    with pytest.raises(InvalidInput):
        outbound.check_outbound_url("https://mixed.example/")
    monkeypatch.setitem(ctx.config, "FMS_SSO_ALLOWED_HOSTS", "mixed.example")
    assert outbound.check_outbound_url("https://mixed.example/") == "https://mixed.example/"


def test_dns_rebinding_after_the_check_still_connects_to_the_checked_address(
    ctx, resolver, monkeypatch
):
    """The resolver answers a public address first and 127.0.0.1 afterwards: the fetch
    goes to the public address that was checked, never to 127.0.0.1."""
    table, asked = resolver
    table["rebind.example"] = ["93.184.215.14", "127.0.0.1"]
    tried: list[tuple] = []

    def connect(sock, address):
        tried.append(address)
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(socket.socket, "connect", connect)
    with pytest.raises(requests.ConnectionError):
        outbound.fetch("https://rebind.example/.well-known/openid-configuration")
    assert asked == ["rebind.example"]  # resolved once
    assert tried and all(address[0] == "93.184.215.14" for address in tried), tried


def _certificate(tmp_path, name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_server(tmp_path):
    """An https server on 127.0.0.1 whose self-signed certificate names idp.test; records
    the Host header and the SNI name it was reached with."""
    cert, key = _certificate(tmp_path, "idp.test")
    seen: dict = {"sni": [], "host": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen["host"].append(self.headers.get("Host"))
            if self.path == "/big":
                body = b"x" * 4096
            elif self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:1/internal")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            else:
                body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert, seen
    server.shutdown()
    server.server_close()


def test_pinned_fetch_keeps_host_sni_and_certificate_name(ctx, resolver, tls_server, monkeypatch):
    port, cert, seen = tls_server
    table, _ = resolver
    table["idp.test"] = ["127.0.0.1"]
    monkeypatch.setitem(ctx.config, "FMS_SSO_ALLOWED_HOSTS", "idp.test")
    response = outbound.fetch(f"https://idp.test:{port}/.well-known/x", verify=cert)
    assert response.json() == {"ok": True}
    assert response.url == f"https://idp.test:{port}/.well-known/x"
    assert seen["host"] == [f"idp.test:{port}"]
    assert seen["sni"] == ["idp.test"]


def test_pinned_fetch_still_verifies_the_certificate_name(ctx, resolver, tls_server, monkeypatch):
    """The connection goes to an IP, but the certificate must still name the host."""
    port, cert, seen = tls_server
    table, _ = resolver
    table["other.test"] = ["127.0.0.1"]
    monkeypatch.setitem(ctx.config, "FMS_SSO_ALLOWED_HOSTS", "other.test")
    with pytest.raises(requests.exceptions.SSLError):
        outbound.fetch(f"https://other.test:{port}/", verify=cert)


def test_redirects_are_not_followed_and_answers_are_capped(ctx, resolver, tls_server, monkeypatch):
    port, cert, seen = tls_server
    table, _ = resolver
    table["idp.test"] = ["127.0.0.1"]
    monkeypatch.setitem(ctx.config, "FMS_SSO_ALLOWED_HOSTS", "idp.test")
    with pytest.raises(outbound.RedirectRefused):
        outbound.fetch(f"https://idp.test:{port}/moved", verify=cert)
    with pytest.raises(outbound.ResponseTooLarge):
        outbound.fetch(f"https://idp.test:{port}/big", verify=cert, max_bytes=1024)
    # a session (as authlib's OAuth2Session gets) does not follow it either
    with outbound.session() as http:
        http.verify = cert
        assert http.get(f"https://idp.test:{port}/moved").status_code == 302
    assert seen["host"] == [f"idp.test:{port}"] * 3


def test_plain_http_to_an_allowed_host_keeps_the_host_header(ctx, resolver, monkeypatch):
    received: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            received.append(self.headers.get("Host"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        table, _ = resolver
        table["dev-idp.internal"] = ["127.0.0.1"]
        url = f"http://dev-idp.internal:{server.server_address[1]}/x"
        with pytest.raises(InvalidInput):  # not allowed: refused before any connection
            outbound.fetch(url)
        assert received == []
        monkeypatch.setitem(ctx.config, "FMS_SSO_ALLOWED_HOSTS", "dev-idp.internal")
        assert outbound.fetch(url).json() == {}
        assert received == [f"dev-idp.internal:{server.server_address[1]}"]
    finally:
        server.shutdown()
        server.server_close()


# --- malformed addresses: a clear field error, never a 500 ------------------------------------

MALFORMED = [
    "https://[::1",  # an unbalanced bracket: urlsplit itself raises
    "https://[abc]/",  # brackets around something that is no IPv6 address
    "https://idp.example:99999/",  # a port out of range
    "https://idp.example:x/",  # a port that is not a number
    "https://" + "a" * 70 + ".example/",  # a label IDNA refuses
]


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_url_is_a_field_error(ctx, url):
    with pytest.raises(InvalidInput) as refused:
        outbound.check_outbound_url(url, field="url")
    assert refused.value.errors["url"]


@pytest.mark.parametrize("url", MALFORMED)
def test_the_webhook_api_refuses_a_malformed_url_with_a_422(client, session, org_admin, url):
    from fms.identity.actor import Actor
    from fms.identity.tokens import services as tokens
    from tests.factories import as_org

    with as_org(session, org_admin.org_id):
        admin = Actor(
            user_id=org_admin.user_id,
            org_id=org_admin.org_id,
            roles=frozenset(org_admin.roles),
            ip="127.0.0.1",
        )
        _, secret = tokens.create_personal_token(
            session, actor=admin, name="hooks", scopes=["admin:write"]
        )
    session.commit()
    response = client.post(
        "/api/v1/webhooks",
        json={"url": url, "events": ["timesheet.submitted"]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert any(e.get("pointer") == "/url" or e.get("field") == "url" for e in problem["errors"])


@pytest.mark.parametrize("url", MALFORMED)
def test_the_sso_admin_form_refuses_a_malformed_issuer_inline(
    client, session, org_admin, sign_in, url
):
    from fms.identity.models import Organization, User
    from tests.test_sso_admin import _form

    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    response = client.post_form("/admin/sso/connections/new", data=_form(issuer=url))
    assert response.status_code == 422
    assert b"Not a URL" in response.data or b"The host name does not resolve" in response.data

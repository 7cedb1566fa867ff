"""A SAML 2.0 identity provider for FMS's tests and for `make run`, built on pysaml2.

pysaml2 is a library, not an IdP: the routes and the sign-in form are ours. It signs
assertions with RSA-SHA256 by default. Test modes (a field of the sign-in form, or a query
parameter of /idp-initiated) make it misbehave the ways the tests need:
`response_only` (signs the response, not the assertion), `unsigned`, `other_key`,
`expired`, `not_yet_valid`, `wrong_audience`, and signature algorithms: `sha1`, `md5`,
`sha224`, `ripemd160`, `md5_digest` (RSA-SHA256 over an MD5 digest), `sha384`, `sha512`.

    python tests/idp/saml_idp.py --host 127.0.0.2 --port 9020 --state-dir /tmp/idp

Never use it for anything real: it trusts the AssertionConsumerServiceURL of any request.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import saml2.assertion
import saml2.entity
from saml2 import BINDING_HTTP_REDIRECT, time_util
from saml2.config import IdPConfig
from saml2.mdstore import MetadataStore
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.xmldsig import (
    DIGEST_MD5,
    DIGEST_RIPEMD160,
    DIGEST_SHA1,
    DIGEST_SHA224,
    DIGEST_SHA256,
    DIGEST_SHA384,
    DIGEST_SHA512,
    SIG_RSA_MD5,
    SIG_RSA_RIPEMD160,
    SIG_RSA_SHA1,
    SIG_RSA_SHA224,
    SIG_RSA_SHA256,
    SIG_RSA_SHA384,
    SIG_RSA_SHA512,
)
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ACCOUNTS = {
    "alice": {"mail": "alice@acme.example", "displayName": "Alice Admin", "groups": ["fms-admins"]},
    "bob": {"mail": "bob@acme.example", "displayName": "Bob Buyer", "groups": ["fms-procurement"]},
    "frank": {"mail": "frank@freelance.example", "displayName": "Frank Freelancer", "groups": []},
}
# (signature, digest) algorithm of each algorithm mode; the others sign with RSA-SHA256
ALGORITHMS = {
    "sha1": (SIG_RSA_SHA1, DIGEST_SHA1),
    "md5": (SIG_RSA_MD5, DIGEST_MD5),
    "sha224": (SIG_RSA_SHA224, DIGEST_SHA224),
    "ripemd160": (SIG_RSA_RIPEMD160, DIGEST_RIPEMD160),
    "md5_digest": (SIG_RSA_SHA256, DIGEST_MD5),
    "sha384": (SIG_RSA_SHA384, DIGEST_SHA384),
    "sha512": (SIG_RSA_SHA512, DIGEST_SHA512),
}
MODES = (
    "normal",
    "response_only",
    "unsigned",
    "other_key",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    *ALGORITHMS,
)
# a test IdP must be able to sign the way broken IdPs do: widen pysaml2's signing allow-list
saml2.entity.SIG_ALLOWED_ALG = (
    *saml2.entity.SIG_ALLOWED_ALG,
    ("SIG_RSA_MD5", SIG_RSA_MD5),
    ("SIG_RSA_RIPEMD160", SIG_RSA_RIPEMD160),
)
saml2.entity.DIGEST_ALLOWED_ALG = (*saml2.entity.DIGEST_ALLOWED_ALG, ("DIGEST_MD5", DIGEST_MD5))


def make_certificate(directory: Path, name: str) -> tuple[str, str]:
    """A self-signed RSA key and certificate (what an IdP admin downloads as metadata)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    if key_path.exists() and cert_path.exists():  # keep the metadata stable across restarts
        return str(key_path), str(cert_path)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


class TestIdp:
    def __init__(self, base: str, state_dir: Path, accounts: dict):
        self.base = base
        self.entity_id = f"{base}/metadata"
        self.accounts = accounts
        self.pending: dict[str, dict] = {}
        state_dir.mkdir(parents=True, exist_ok=True)
        self.key, self.cert = make_certificate(state_dir, "idp")
        self.other_key, self.other_cert = make_certificate(state_dir, "other")

    def server(self, mode: str) -> Server:
        key, cert = (
            (self.other_key, self.other_cert) if mode == "other_key" else (self.key, self.cert)
        )
        lifetime = {"minutes": {"expired": -10, "not_yet_valid": 20}.get(mode, 5)}
        sign_alg, digest_alg = ALGORITHMS.get(mode, (SIG_RSA_SHA256, DIGEST_SHA256))
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": shutil.which("xmlsec1"),
                "key_file": key,
                "cert_file": cert,
                "signing_algorithm": sign_alg,
                "digest_algorithm": digest_alg,
                "service": {
                    "idp": {
                        "name": "FMS test IdP",
                        "endpoints": {
                            "single_sign_on_service": [
                                (f"{self.base}/sso/redirect", BINDING_HTTP_REDIRECT)
                            ]
                        },
                        "policy": {
                            "default": {
                                "lifetime": lifetime,
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_URI,
                            }
                        },
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "want_authn_requests_signed": False,
                    }
                },
            }
        )
        server = Server(config=config)
        if server.metadata is None:  # no SP metadata: an empty store (pysaml2 looks in it)
            server.metadata = MetadataStore(attrc=config.attribute_converters, config=config)
        # SPs are not registered here, so never encrypt to them
        server.has_encrypt_cert_in_metadata = lambda sp_entity_id: False
        return server

    def metadata(self) -> str:
        data = create_metadata_string(None, config=self.server("normal").config, valid=None)
        return data.decode() if isinstance(data, bytes) else data

    def respond(self, *, login, mode, acs, audience, in_response_to, relay_state) -> Response:
        account = self.accounts[login]
        server = self.server(mode)
        identity = {
            "mail": [account["mail"]],
            "displayName": [account["displayName"]],
            "groups": list(account.get("groups", [])),
        }
        real_instant = saml2.assertion.instant
        if mode == "not_yet_valid":  # Conditions NotBefore ten minutes from now
            saml2.assertion.instant = lambda *a, **k: time_util.in_a_while(minutes=10)
        try:
            response = self._create(server, identity, mode, acs, audience, in_response_to, login)
        finally:
            saml2.assertion.instant = real_instant
        encoded = base64.b64encode(str(response).encode()).decode()
        body = f"""<!doctype html><title>Signing in…</title>
<form id="saml" method="post" action="{html.escape(acs)}">
<input type="hidden" name="SAMLResponse" value="{encoded}">
<input type="hidden" name="RelayState" value="{html.escape(relay_state or "")}">
<noscript><button type="submit">Continue</button></noscript></form>
<script>document.getElementById('saml').submit()</script>"""
        return Response(body, mimetype="text/html")

    def _create(self, server, identity, mode, acs, audience, in_response_to, login):
        sign_alg, digest_alg = ALGORITHMS.get(mode, (SIG_RSA_SHA256, DIGEST_SHA256))
        signed = mode not in ("unsigned", "response_only")
        return server.create_authn_response(
            identity,
            in_response_to=in_response_to,
            destination=acs,
            sp_entity_id="https://another-service.example/metadata"
            if mode == "wrong_audience"
            else audience,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=f"id-{login}"),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_assertion=signed,
            sign_response=mode == "response_only",
            sign_alg=sign_alg,
            digest_alg=digest_alg,
        )

    def login_form(self, uid: str, error: str = "") -> Response:
        options = "".join(f'<option value="{m}">{m}</option>' for m in MODES)
        body = f"""<!doctype html><title>Test SAML IdP</title><h1>Test SAML identity provider</h1>
{f'<p role="alert">{html.escape(error)}</p>' if error else ""}
<form method="post" action="/login">
<input type="hidden" name="uid" value="{uid}">
<label>Account <input name="login" id="login" autofocus></label>
<label>Password <input name="password" type="password" id="password"></label>
<label>Test mode <select name="mode">{options}</select></label>
<button type="submit" id="sign-in">Sign in</button></form>"""
        return Response(body, status=401 if error else 200, mimetype="text/html")

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception as exc:  # a test IdP: show the problem
            response = Response(f"error: {html.escape(str(exc))}", status=400)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.path == "/metadata":
            return Response(self.metadata(), mimetype="application/samlmetadata+xml")
        if request.path == "/sso/redirect":
            parsed = self.server("normal").parse_authn_request(
                request.args["SAMLRequest"], BINDING_HTTP_REDIRECT
            )
            message = parsed.message
            uid = uuid.uuid4().hex
            self.pending[uid] = {
                "id": message.id,
                "acs": message.assertion_consumer_service_url,
                "audience": message.issuer.text,
                "relay_state": request.args.get("RelayState"),
            }
            return self.login_form(uid)
        if request.path == "/login" and request.method == "POST":
            pending = self.pending.get(request.form.get("uid", ""))
            if pending is None:
                return Response("unknown sign-in", status=400)
            login = request.form.get("login", "")
            if login not in self.accounts:
                return self.login_form(request.form["uid"], "Unknown account.")
            self.pending.pop(request.form["uid"])
            return self.respond(
                login=login,
                mode=request.form.get("mode", "normal"),
                acs=pending["acs"],
                audience=pending["audience"],
                in_response_to=pending["id"],
                relay_state=pending["relay_state"],
            )
        if request.path == "/idp-initiated":
            # unsolicited: as when a person clicks the FMS tile in their IdP's dashboard
            return self.respond(
                login=request.args.get("login", "alice"),
                mode=request.args.get("mode", "normal"),
                acs=request.args["acs"],
                audience=request.args["audience"],
                in_response_to=None,
                relay_state=request.args.get("RelayState", ""),
            )
        if request.path == "/_test/accounts" and request.method == "POST":
            self.accounts.update(json.loads(request.get_data() or b"{}"))
            return Response(status=204)
        return Response("not found", status=404)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=9020)
    parser.add_argument("--state-dir", default=os.environ.get("IDP_STATE_DIR", "/tmp/fms-saml-idp"))
    parser.add_argument("--accounts", help="JSON file of extra accounts")
    args = parser.parse_args(argv)
    accounts = dict(ACCOUNTS)
    if args.accounts:  # the OIDC IdP's format is accepted too (email, name)
        for login, account in json.loads(Path(args.accounts).read_text()).items():
            accounts[login] = {
                "mail": account.get("mail") or account.get("email"),
                "displayName": account.get("displayName") or account.get("name") or login,
                "groups": account.get("groups", []),
            }
    base = f"http://{args.host}:{args.port}"
    app = TestIdp(base, Path(args.state_dir), accounts)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"saml-idp ready at {base} (metadata: {base}/metadata)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()

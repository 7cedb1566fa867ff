"""OpenID Connect sign-in against a real OpenID Provider (npm oidc-provider on 127.0.0.1).

Every refused sign-in ends on a clear error page, leaves no session and writes an audit
entry in the connection's organization.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from joserfc.jws import extract_compact
from sqlalchemy import func, select, update

from fms.audit.models import AuditEntry
from fms.identity.models import Membership, Organization, SignInSession, User
from fms.identity.sso import oidc
from fms.identity.sso.models import ExternalIdentity, SsoLoginRequest
from fms.identity.web_session import TOKEN_KEY
from fms.tenancy import ALL_TENANTS
from tests.factories import as_org
from tests.factories_identity_sso import Browser

pytestmark = [pytest.mark.idp, pytest.mark.usefixtures("sso_allowed_loopback")]


@pytest.fixture
def acme(session, org_admin, make_oidc_connection, make_sso_domain, oidc_idp):
    """An organization whose staff sign in through the test IdP, with acme.example verified."""
    org = session.get(Organization, org_admin.org_id)
    connection = make_oidc_connection(
        org,
        issuer=oidc_idp.issuer,
        group_roles={"fms-admins": ["org_admin"], "fms-procurement": ["procurement"]},
    )
    make_sso_domain(org, "acme.example")
    session.commit()
    return org, connection


def _start(connection) -> str:
    return f"/sso/oidc/{connection.public_key}/start"


def _signed_in(client) -> bool:
    with client.session_transaction() as cookie:
        return cookie.get(TOKEN_KEY) is not None


def _sessions(session) -> int:
    return session.scalar(select(func.count(SignInSession.id)))


def _failures(session, org_id) -> list[str]:
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.org_id == org_id, AuditEntry.action == "sso.sign_in_failed")
        .execution_options(**{ALL_TENANTS: True})
    ).all()
    return [e.after["reason"] for e in entries]


def _assert_refused(response, session, client, org_id, reason: str):
    assert response.status_code == 401, response.data[:400]
    assert b"Sign-in failed" in response.data
    assert not _signed_in(client)
    assert _sessions(session) == 0
    assert reason in _failures(session, org_id)


# --- the happy paths -----------------------------------------------------------------------


def test_full_code_flow_from_sign_in_page_to_session(client, session, acme, oidc_idp):
    org, connection = acme
    # the sign-in page asks for the email and routes by the verified domain
    response = client.post("/login", data={"email": "alice@acme.example", "action": "sso"})
    assert response.status_code == 200
    assert f'href="{_start(connection)}'.encode() in response.data
    browser = Browser(client)
    authorize = client.get(_start(connection)).headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(oidc_idp.issuer + "/auth")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["state"] and query["nonce"]
    back = browser.callback_url(authorize, login="alice")
    response = browser.fms(back)
    assert response.status_code == 302, response.data[:400]
    page = client.get("/")
    assert page.status_code == 200
    assert b"Alice Admin" in page.data
    user = session.scalar(select(User).where(User.email == "alice@acme.example"))
    identity = session.scalar(select(ExternalIdentity).execution_options(**{ALL_TENANTS: True}))
    assert (identity.issuer, identity.subject, identity.user_id) == (
        oidc_idp.issuer,
        "alice",
        user.id,
    )
    membership = session.scalar(
        select(Membership)
        .where(Membership.user_id == user.id)
        .execution_options(**{ALL_TENANTS: True})
    )
    assert membership.roles == ["org_admin"]  # from the groups read in userinfo
    record = session.scalar(select(SignInSession).where(SignInSession.user_id == user.id))
    assert record.method == "oidc" and record.current_org_id == org.id
    actions = session.scalars(
        select(AuditEntry.action).execution_options(**{ALL_TENANTS: True})
    ).all()
    assert {"user.created", "external_identity.linked", "user.signed_in"} <= set(actions)


def test_second_sign_in_finds_the_identity_and_rotates_the_session(client, session, acme):
    org, connection = acme
    tokens = []
    for _ in range(2):
        browser = Browser(client)
        response = browser.fms(browser.callback_url(_start(connection), login="bob"))
        assert response.status_code == 302
        with client.session_transaction() as cookie:
            tokens.append(cookie[TOKEN_KEY])
    assert tokens[0] != tokens[1]
    assert (
        session.scalar(
            select(func.count(ExternalIdentity.id)).execution_options(**{ALL_TENANTS: True})
        )
        == 1
    )
    user = session.scalar(select(User).where(User.email == "bob@acme.example"))
    membership = session.scalar(
        select(Membership)
        .where(Membership.user_id == user.id)
        .execution_options(**{ALL_TENANTS: True})
    )
    assert membership.roles == ["procurement"]


def test_jwks_rotation_is_followed(client, session, acme, oidc_idp):
    org, connection = acme
    browser = Browser(client)
    assert browser.fms(browser.callback_url(_start(connection), login="alice")).status_code == 302
    oidc_idp.rotate_keys()  # new signing key with a new kid; FMS has the old JWKS cached
    client.post("/logout")
    browser = Browser(client)
    assert browser.fms(browser.callback_url(_start(connection), login="alice")).status_code == 302
    assert _signed_in(client)


def test_logout_ends_the_session_at_the_idp_too(client, session, acme, oidc_idp):
    org, connection = acme
    browser = Browser(client)
    browser.fms(browser.callback_url(_start(connection), login="alice"))
    response = client.post("/logout")
    assert response.status_code == 200
    location = response.get_data(as_text=True).split(
        'id="continue-sso" class="btn btn-primary w-100" href="'
    )[1]
    location = location.split('"')[0].replace("&amp;", "&")
    assert location.startswith(oidc_idp.issuer + "/session/end")
    assert "id_token_hint=" in location
    assert not _signed_in(client)


def test_unverified_domain_is_not_routed(client, session, acme):
    response = client.post("/login", data={"email": "x@unverified.example", "action": "sso"})
    assert response.status_code == 401
    assert b"not set up for this email" in response.data


# --- the negative cases, one test each --------------------------------------------------------


def test_wrong_state_is_refused(client, session, acme):
    org, connection = acme
    browser = Browser(client)
    back = browser.callback_url(_start(connection), login="alice")
    query = parse_qs(urlsplit(back).query)
    response = client.get(f"/sso/oidc/callback?code={query['code'][0]}&state=forged-state")
    _assert_refused(response, session, client, org.id, "unknown_state")
    # the real request is still pending, unused
    pending = session.scalar(select(SsoLoginRequest).execution_options(**{ALL_TENANTS: True}))
    assert pending.consumed_at is None


def test_state_from_another_browser_is_refused(client, app, session, acme):
    org, connection = acme
    browser = Browser(client)
    back = browser.callback_url(_start(connection), login="alice")
    other = app.test_client()  # a different browser: no binding cookie
    response = Browser(other).fms(back)
    _assert_refused(response, session, other, org.id, "state_other_browser")


def test_replayed_state_is_refused(client, session, acme):
    org, connection = acme
    browser = Browser(client)
    back = browser.callback_url(_start(connection), login="alice")
    assert browser.fms(back).status_code == 302
    client.post("/logout")
    session.execute(update(SignInSession).values(ended_at=None))  # count sessions anew
    session.execute(SignInSession.__table__.delete())
    session.commit()
    response = browser.fms(back)
    _assert_refused(response, session, client, org.id, "replayed_state")


def test_wrong_nonce_is_refused(client, session, acme):
    org, connection = acme
    browser = Browser(client)
    back = browser.callback_url(_start(connection), login="alice")
    # the IdP signs the nonce it was sent; FMS expects another one
    session.execute(
        update(SsoLoginRequest)
        .values(nonce="another-nonce")
        .execution_options(**{ALL_TENANTS: True})
    )
    session.commit()
    response = browser.fms(back)
    _assert_refused(response, session, client, org.id, "claim_nonce")


def _with_forged_id_token(monkeypatch, forge):
    """Let the real code exchange happen, then hand FMS a different ID token."""
    real = oidc.exchange_code

    def exchange(*args, **kwargs):
        tokens = real(*args, **kwargs)
        # the real token's claims (checked by FMS elsewhere), re-issued as the test needs
        claims = json.loads(extract_compact(tokens["id_token"].encode()).payload)
        tokens["id_token"] = forge(claims)
        return tokens

    monkeypatch.setattr(oidc, "exchange_code", exchange)


@pytest.fixture
def forge(monkeypatch, oidc_idp):
    idp_key = RSAKey.import_key(oidc_idp.signing_key)

    def install(change_claims=None, *, key=None, header=None):
        def make(claims):
            claims = dict(claims)
            if change_claims:
                claims.update(change_claims)
            head = header or {"alg": "RS256", "kid": oidc_idp.signing_key["kid"]}
            return jwt.encode(head, claims, key or idp_key)

        _with_forged_id_token(monkeypatch, make)

    return install


def _walk(client, connection):
    browser = Browser(client)
    return browser.fms(browser.callback_url(_start(connection), login="alice"))


def test_id_token_signed_by_another_key_is_refused(client, session, acme, forge):
    org, connection = acme
    other = RSAKey.generate_key(2048, parameters={"kid": "test-idp-key-1"})  # same kid
    forge(key=other)
    _assert_refused(_walk(client, connection), session, client, org.id, "bad_signature")


def test_alg_none_is_refused(client, session, acme, forge, monkeypatch):
    org, connection = acme
    import base64

    def unsigned(claims):
        def part(data):
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        return part({"alg": "none", "kid": "test-idp-key-1"}) + "." + part(claims) + "."

    _with_forged_id_token(monkeypatch, unsigned)
    _assert_refused(_walk(client, connection), session, client, org.id, "algorithm_refused")


def test_hmac_signed_with_the_client_secret_is_refused(client, session, acme, forge):
    """Algorithm confusion: HS256 keyed with the (shared) client secret must not verify."""
    from joserfc.jwk import OctKey

    org, connection = acme
    forge(key=OctKey.import_key(b"fms-test-idp-client-secret"), header={"alg": "HS256"})
    _assert_refused(_walk(client, connection), session, client, org.id, "algorithm_refused")


def test_expired_id_token_is_refused(client, session, acme, forge):
    org, connection = acme
    now = int(time.time())
    forge({"exp": now - 3600, "iat": now - 7200})
    _assert_refused(_walk(client, connection), session, client, org.id, "claim_exp")


def test_id_token_for_another_audience_is_refused(client, session, acme, forge):
    org, connection = acme
    forge({"aud": "some-other-client"})
    _assert_refused(_walk(client, connection), session, client, org.id, "claim_aud")


def test_id_token_from_another_issuer_is_refused(client, session, acme, forge):
    org, connection = acme
    forge({"iss": "http://127.0.0.1:1/evil"})
    _assert_refused(_walk(client, connection), session, client, org.id, "claim_iss")


def test_email_domain_owned_by_another_organization_is_refused(
    client, session, acme, make_org, make_sso_domain, oidc_idp
):
    org, connection = acme
    other = make_org()
    make_sso_domain(other, "globex.example")
    session.commit()
    oidc_idp.add_accounts({"mallory": {"email": "ceo@globex.example", "name": "Not The CEO"}})
    response = _walk_as(client, connection, "mallory")
    _assert_refused(response, session, client, org.id, "domain_other_org")
    assert session.scalar(select(User).where(User.email == "ceo@globex.example")) is None


def _walk_as(client, connection, login):
    browser = Browser(client)
    return browser.fms(browser.callback_url(_start(connection), login=login))


def test_deactivated_user_is_refused(client, session, acme, make_member, make_user):
    org, connection = acme
    user = make_user(email="alice@acme.example", name="Alice Admin")
    make_member(org, roles=("hiring_manager",), user=user, is_active=False)
    session.commit()
    _assert_refused(_walk(client, connection), session, client, org.id, "user_deactivated")


def test_discovery_naming_another_issuer_is_refused(
    client, session, org_admin, make_oidc_connection, oidc_idp
):
    """Mix-up defence: the configured issuer must be the one the discovery document names."""
    org = session.get(Organization, org_admin.org_id)
    connection = make_oidc_connection(org, issuer=oidc_idp.issuer + "/")
    session.commit()
    response = client.get(_start(connection))
    _assert_refused(response, session, client, org.id, "issuer_mismatch")


def test_password_stops_working_when_sso_is_required_except_break_glass(
    client, session, acme, make_member, make_user
):
    from tests.factories import PASSWORD

    org, connection = acme
    with as_org(session, org.id):
        admin_membership = session.scalar(select(Membership))
    staff = make_member(org, roles=("finance",))
    admin_membership.break_glass = True
    org.sso_required = True
    session.commit()
    staff_user = session.get(User, staff.user_id)
    response = client.post("/login", data={"email": staff_user.email, "password": PASSWORD})
    assert response.status_code == 401
    assert b"requires single sign-on" in response.data
    assert not _signed_in(client)
    # a break-glass admin needs the password and a TOTP code
    admin_user = session.get(User, admin_membership.user_id)
    response = client.post("/login", data={"email": admin_user.email, "password": PASSWORD})
    assert response.status_code == 401 and not _signed_in(client)
    import pyotp

    from fms.encryption import encrypt
    from fms.timekeeping import utcnow

    secret = pyotp.random_base32()
    admin_user.totp_secret_encrypted, admin_user.totp_enabled_at = encrypt(secret), utcnow()
    session.commit()
    response = client.post("/login", data={"email": admin_user.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    assert not _signed_in(client)
    response = client.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert _signed_in(client)


# --- client authentication at the token endpoint ---------------------------------------------


@pytest.fixture
def post_only(session, org_admin, make_sso_domain, oidc_idp_post):
    """An IdP whose client is registered for client_secret_post only."""
    org = session.get(Organization, org_admin.org_id)
    make_sso_domain(org, "acme.example")
    return org, oidc_idp_post


def test_connection_set_to_client_secret_post_signs_in(
    client, session, post_only, make_oidc_connection
):
    org, idp = post_only
    connection = make_oidc_connection(
        org, issuer=idp.issuer, token_endpoint_auth_method="client_secret_post"
    )
    session.commit()
    response = _walk(client, connection)
    assert response.status_code == 302, response.data[:400]
    assert _signed_in(client)


def test_connection_set_to_basic_fails_clearly_where_the_idp_wants_post(
    client, session, post_only, make_oidc_connection, caplog
):
    org, idp = post_only
    connection = make_oidc_connection(
        org, issuer=idp.issuer, token_endpoint_auth_method="client_secret_basic"
    )
    session.commit()
    with caplog.at_level("WARNING", logger="fms.identity.sso.oidc"):
        response = _walk(client, connection)
    _assert_refused(response, session, client, org.id, "invalid_client")
    page = response.get_data(as_text=True)
    assert "client_secret_basic" in page and "invalid_client" in page
    assert "invalid_client" in caplog.text
    assert idp.client_secret not in caplog.text


# --- email_verified ----------------------------------------------------------------------------


def test_missing_email_verified_is_not_verified(client, session, acme, oidc_idp):
    org, connection = acme
    oidc_idp.add_accounts(
        {"quiet": {"email": "quiet@acme.example", "name": "Q", "email_verified": None}}
    )
    _assert_refused(
        _walk_as(client, connection, "quiet"), session, client, org.id, "email_unverified"
    )
    assert session.scalar(select(User).where(User.email == "quiet@acme.example")) is None


def test_entra_s_xms_edov_vouches_for_the_email(client, session, acme, oidc_idp, forge):
    """Entra ID sends no email_verified; its optional claim xms_edov says the same."""
    org, connection = acme
    oidc_idp.add_accounts(
        {"quiet": {"email": "quiet@acme.example", "name": "Q", "email_verified": None}}
    )
    forge({"xms_edov": True})
    response = _walk_as(client, connection, "quiet")
    assert response.status_code == 302, response.data[:300]
    assert session.scalar(select(User).where(User.email == "quiet@acme.example")) is not None


def test_string_false_email_verified_stays_unverified(client, session, acme, oidc_idp):
    org, connection = acme
    oidc_idp.add_accounts(
        {"stringy": {"email": "stringy@acme.example", "name": "S", "email_verified": "false"}}
    )
    _assert_refused(
        _walk_as(client, connection, "stringy"), session, client, org.id, "email_unverified"
    )


def test_invitation_is_not_redeemed_without_email_verified(
    client, session, org_admin, make_oidc_connection, make_invitation, oidc_idp
):
    from fms.identity.sso.models import Invitation

    org = session.get(Organization, org_admin.org_id)
    make_oidc_connection(org, issuer=oidc_idp.issuer, audience="freelancers")
    oidc_idp.add_accounts(
        {"quietfrank": {"email": "qf@freelance.example", "name": "QF", "email_verified": None}}
    )
    invitation, link = make_invitation(org, email="qf@freelance.example")
    session.commit()
    page = client.get(link).get_data(as_text=True)
    start = "/sso/oidc/" + page.split('href="/sso/oidc/', 1)[1].split('"', 1)[0]
    browser = Browser(client)
    response = browser.fms(browser.callback_url(start.replace("&amp;", "&"), login="quietfrank"))
    _assert_refused(response, session, client, org.id, "email_unverified")
    assert session.get(Invitation, invitation.id).redeemed_at is None


# --- the ID token stays on the server ----------------------------------------------------------


def test_large_id_token_is_kept_on_the_server_and_logout_still_sends_the_hint(
    client, session, acme, forge, oidc_idp
):
    org, connection = acme
    groups = [f"app-role-{n:02d}-" + "x" * 90 for n in range(40)]
    forge({"groups": groups})
    browser = Browser(client)
    response = browser.fms(browser.callback_url(_start(connection), login="alice"))
    assert response.status_code == 302, response.data[:400]
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all(len(c) < 1024 for c in cookies), [len(c) for c in cookies]
    record = session.scalar(select(SignInSession))
    assert record.sso_connection_id == connection.id
    assert len(record.id_token) > 4096 and "app-role-39" in json.dumps(
        json.loads(extract_compact(record.id_token.encode()).payload)
    )
    id_token = record.id_token
    response = client.post("/logout")
    target = response.get_data(as_text=True).split('id="continue-sso"', 1)[1]
    target = target.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    query = parse_qs(urlsplit(target).query)
    assert query["id_token_hint"] == [id_token]
    session.refresh(record)
    assert record.id_token is None  # kept no longer than the session

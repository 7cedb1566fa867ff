"""Local sign-in, server-side sessions, revocation, timeouts and rate limits."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.identity.models import Organization, SignInSession, User
from fms.identity.web_session import TOKEN_KEY
from fms.timekeeping import utcnow
from tests.factories import PASSWORD


def _user(session, membership):
    return session.get(User, membership.user_id)


def _login(client, email, password=PASSWORD, next_=""):
    return client.post("/login", data={"email": email, "password": password, "next": next_})


def _token(client):
    with client.session_transaction() as cookie:
        return cookie.get(TOKEN_KEY)


def test_sign_in_with_password_reaches_the_overview(client, session, org_admin):
    user = _user(session, org_admin)
    response = _login(client, user.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert user.name.encode() in page.data
    actions = session.scalars(select(AuditEntry.action)).all()
    assert "user.signed_in" in actions


@pytest.mark.parametrize(
    "email, password",
    [("nobody@example.com", PASSWORD), (None, "wrong-password-123"), (None, "")],
)
def test_failed_sign_in_says_the_same_thing_and_starts_no_session(
    client, session, org_admin, email, password
):
    user = _user(session, org_admin)
    response = _login(client, email or user.email, password)
    assert response.status_code in (401, 200)
    assert b"do not match" in response.data or b"This field is required" in response.data
    assert _token(client) is None
    assert session.scalar(select(func.count(SignInSession.id))) == 0


def test_deactivated_user_cannot_sign_in(client, session, org_admin):
    user = _user(session, org_admin)
    user.is_active = False
    session.commit()
    assert _login(client, user.email).status_code == 401


def test_session_id_rotates_at_every_sign_in(client, session, org_admin):
    user = _user(session, org_admin)
    _login(client, user.email)
    first = _token(client)
    client.post("/logout")
    _login(client, user.email)
    second = _token(client)
    assert first and second and first != second


def test_next_parameter_cannot_redirect_off_site(client, session, org_admin):
    user = _user(session, org_admin)
    response = _login(client, user.email, next_="//evil.example/phish")
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = _login(client, user.email, next_="/admin/members")
    assert response.headers["Location"] == "/admin/members"


def test_logout_revokes_a_copied_cookie(app, client, session, org_admin):
    user = _user(session, org_admin)
    _login(client, user.email)
    token = _token(client)
    thief = app.test_client()
    with thief.session_transaction() as cookie:
        cookie[TOKEN_KEY] = token
    assert thief.get("/").status_code == 200
    client.post("/logout")
    assert thief.get("/").status_code == 302  # back to the sign-in page
    assert thief.get("/api/v1/me").status_code == 401


def test_deactivating_a_member_ends_their_session_on_the_next_request(
    app, client, session, org_admin, make_member, sign_in
):
    org = session.get(Organization, org_admin.org_id)
    other = make_member(org, roles=("finance",))
    victim = app.test_client()
    sign_in(victim, _user(session, other), org)
    assert victim.get("/").status_code == 200
    sign_in(client, _user(session, org_admin), org)
    response = client.post(f"/admin/members/{other.id}", data={"action": "deactivate"})
    assert response.status_code == 302
    assert victim.get("/").status_code == 302
    ended = session.scalar(select(SignInSession).where(SignInSession.user_id == other.user_id))
    assert ended.end_reason == "deactivated"


def test_role_change_applies_on_the_next_request(
    app, client, session, org_admin, make_member, sign_in
):
    org = session.get(Organization, org_admin.org_id)
    other = make_member(org, roles=("org_admin",))
    member_client = app.test_client()
    sign_in(member_client, _user(session, other), org)
    assert member_client.get("/admin/audit").status_code == 200
    sign_in(client, _user(session, org_admin), org)
    client.post(f"/admin/members/{other.id}", data={"action": "roles", "roles": ["finance"]})
    assert member_client.get("/admin/audit").status_code == 403


def test_idle_and_absolute_timeouts_end_sessions(app, client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    started = sign_in(client, _user(session, org_admin), org)
    record = started.record
    record.last_seen_at = utcnow() - timedelta(minutes=app.config["FMS_SESSION_IDLE_MINUTES"] + 1)
    session.commit()
    assert client.get("/").status_code == 302
    assert record.end_reason == "idle_timeout"

    started = sign_in(client, _user(session, org_admin), org)
    max_hours = app.config["FMS_SESSION_MAX_HOURS"]
    started.record.created_at = utcnow() - timedelta(hours=max_hours, minutes=1)
    session.commit()
    assert client.get("/").status_code == 302
    assert started.record.end_reason == "absolute_timeout"


def test_switching_organization_changes_what_is_visible(
    client, session, org_admin, make_org, make_member, make_unit, sign_in
):
    org_a = session.get(Organization, org_admin.org_id)
    org_b = make_org(name="Second Org")
    user = _user(session, org_admin)
    make_member(org_b, roles=("org_admin",), user=user)
    make_unit(org_a, code="ONLY-A")
    make_unit(org_b, code="ONLY-B")
    sign_in(client, user, org_a)
    assert b"ONLY-A" in client.get("/admin/structure").data
    response = client.post("/switch-organization", data={"org_id": org_b.id})
    assert response.status_code == 302
    page = client.get("/admin/structure").data
    assert b"ONLY-B" in page and b"ONLY-A" not in page
    # an organization the user does not belong to is a 404, and nothing changes
    stranger = make_org()
    assert client.post("/switch-organization", data={"org_id": stranger.id}).status_code == 404
    assert b"ONLY-B" in client.get("/admin/structure").data


def test_cookies_are_httponly_and_samesite_lax(client, session, org_admin):
    response = _login(client, _user(session, org_admin).email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def restore_limiter(app):
    """The Limiter object is process-wide: give it back disabled, as the test app had it."""
    from fms.extensions import limiter

    yield
    limiter.enabled = app.config["RATELIMIT_ENABLED"]


def test_sign_in_attempts_are_rate_limited_per_account_and_per_ip(
    tmp_path, session, restore_limiter
):
    from tests.conftest import make_app

    limited = make_app(
        tmp_path,
        RATELIMIT_ENABLED=True,
        FMS_LOGIN_LIMIT_PER_ACCOUNT="3 per minute",
        FMS_LOGIN_LIMIT_PER_IP="5 per minute",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/limits.sqlite3",
    )
    with limited.app_context():
        from fms.extensions import db

        db.create_all()
    web = limited.test_client()
    statuses = [_login(web, "victim@example.com", "wrong-password-1").status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429
    assert "problem" not in web.post("/login").content_type  # still an HTML page
    # other accounts from the same address: the per-IP limit (5) stops them too
    others = [_login(web, f"u{i}@example.com", "wrong-password-1").status_code for i in range(3)]
    assert others[-1] == 429


def test_totp_codes_are_rate_limited_per_account_from_any_address(
    tmp_path, session, restore_limiter
):
    """Six digits can be guessed: wrong codes count against the account, so changing the
    address between guesses does not reset the limit."""
    import pyotp
    from werkzeug.security import generate_password_hash

    from fms.encryption import encrypt
    from fms.extensions import db
    from fms.identity.models import Membership, Organization, User
    from fms.timekeeping import utcnow
    from tests.conftest import make_app

    limited = make_app(
        tmp_path,
        RATELIMIT_ENABLED=True,
        FMS_LOGIN_LIMIT_PER_ACCOUNT="3 per minute",
        FMS_LOGIN_LIMIT_PER_IP="100 per minute",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/totp-limits.sqlite3",
    )
    with limited.app_context():
        db.create_all()
        org = Organization(name="Acme", slug="acme-totp")
        user = User(
            email="totp@example.com",
            name="T",
            password_hash=generate_password_hash("correct-horse-battery", method="scrypt"),
            totp_secret_encrypted=encrypt(pyotp.random_base32()),
            totp_enabled_at=utcnow(),
        )
        db.session.add_all([org, user])
        db.session.flush()
        db.session.add(Membership(org_id=org.id, user_id=user.id, roles=["finance"]))
        db.session.commit()
    web = limited.test_client()
    held = web.post(
        "/login", data={"email": "totp@example.com", "password": "correct-horse-battery"}
    )
    assert held.headers["Location"].endswith("/login/code")
    statuses = [
        web.post(
            "/login/code",
            data={"code": "000000"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
        ).status_code
        for n in range(1, 5)
    ]
    assert statuses == [401, 401, 401, 429]


def test_production_refuses_the_development_secret_key(monkeypatch):
    from fms import create_app
    from fms.config import ConfigError

    monkeypatch.setenv("FMS_ENV", "production")
    monkeypatch.delenv("FMS_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app()

"""A person's own account: password links (single use, expiring, mailed through the
outbox) and TOTP for local passwords (a code per step, once; required for break-glass)."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from fms.audit.models import AuditEntry
from fms.identity import memberships
from fms.identity.models import PasswordLink, SignInSession, User
from fms.notifications.models import OutboxMessage
from fms.timekeeping import utcnow
from tests.factories import PASSWORD, as_org


@pytest.fixture
def person(org_admin, make_member, session):
    from fms.identity.models import Organization

    org = session.get(Organization, org_admin.org_id)
    member = make_member(org, roles=("finance",))
    session.commit()
    return session.get(User, member.user_id), org


def _reset_link(session, email):
    message = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.recipient == email, OutboxMessage.kind == "password_reset"
        )
    ).one()
    assert message.org_id is None  # no organization's outbox page shows a credential
    return re.search(r"(/password/reset/\S+)", message.body_text).group(1)


def test_password_reset_by_a_mailed_single_use_link(client, session, person, sign_in, app):
    user, org = person
    other_device = app.test_client()
    sign_in(other_device, user, org)
    # unknown addresses get the same answer and no mail
    unknown = client.post("/password/forgot", data={"email": "nobody@example.com"})
    known = client.post("/password/forgot", data={"email": user.email})
    assert unknown.status_code == known.status_code == 302
    assert (
        session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.recipient == "nobody@example.com")
        )
        is None
    )
    link = _reset_link(session, user.email)
    assert client.get(link).status_code == 200
    mismatch = client.post(link, data={"password": "new-password-123", "confirm": "other-123456"})
    assert mismatch.status_code == 422
    done = client.post(link, data={"password": "new-password-123", "confirm": "new-password-123"})
    assert done.status_code == 302
    session.expire_all()
    # the new password works, the old one does not, other sessions are over
    assert (
        client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 401
    )
    fresh = app.test_client()
    ok = fresh.post("/login", data={"email": user.email, "password": "new-password-123"})
    assert ok.status_code == 302
    assert other_device.get("/api/v1/me").status_code == 401
    # used once: the same link is refused
    again = client.post(link, data={"password": "third-password-1", "confirm": "third-password-1"})
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.org_id == org.id)
        .execution_options(all_tenants=True)
    ).all()
    assert "user.password_set" in actions


def test_expired_and_forged_reset_links_are_refused(client, session, person):
    user, _ = person
    client.post("/password/forgot", data={"email": user.email})
    link = _reset_link(session, user.email)
    row = session.scalars(select(PasswordLink)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    expired = client.post(
        link, data={"password": "new-password-123", "confirm": "new-password-123"}
    )
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    forged = client.get(link[:-3] + "abc")
    assert forged.status_code == 400
    session.refresh(user)
    assert (
        client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    )


def _enable_totp(client, session, user) -> str:
    page = client.get("/account/security").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    wrong = client.post("/account/security", data={"action": "enable", "code": "000000"})
    assert wrong.status_code == 422
    right = client.post(
        "/account/security", data={"action": "enable", "code": pyotp.TOTP(secret).now()}
    )
    assert right.status_code == 302
    session.refresh(user)
    assert user.totp_enabled_at is not None and secret not in (user.totp_secret_encrypted or "")
    return secret


def test_totp_is_asked_at_every_password_sign_in_and_each_code_works_once(
    client, session, person, sign_in, app
):
    user, org = person
    sign_in(client, user, org)
    secret = _enable_totp(client, session, user)
    browser = app.test_client()
    first = browser.post("/login", data={"email": user.email, "password": PASSWORD})
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/code")
    # the code step cannot be skipped
    skipped = browser.post("/login/organization", data={"org_id": org.id})
    assert skipped.status_code == 302 and browser.get("/api/v1/me").status_code == 401
    assert browser.post("/login/code", data={"code": "123456"}).status_code == 401
    # the code already used to turn TOTP on is spent; wait for the next step's code
    user.totp_last_step = None
    session.commit()
    code = pyotp.TOTP(secret).now()
    assert browser.post("/login/code", data={"code": code}).status_code == 302
    assert browser.get("/api/v1/me").get_json()["organization"]["id"] == org.id
    # the same code again, on another browser, is refused
    replay = app.test_client()
    replay.post("/login", data={"email": user.email, "password": PASSWORD})
    assert replay.post("/login/code", data={"code": code}).status_code == 401
    assert replay.get("/api/v1/me").status_code == 401


def test_break_glass_needs_totp_and_keeps_it(client, session, org_admin, actor_of, sign_in):
    from fms.identity.models import Organization

    session.commit()
    org = session.get(Organization, org_admin.org_id)
    user = session.get(User, org_admin.user_id)
    actor = actor_of(org_admin)
    with as_org(session, org.id), pytest.raises(memberships.RuleViolation, match="two-step"):
        memberships.set_member_break_glass(
            session, actor=actor, membership_id=org_admin.id, break_glass=True
        )
    session.rollback()
    sign_in(client, user, org)
    secret = _enable_totp(client, session, user)
    with as_org(session, org.id):
        memberships.set_member_break_glass(
            session, actor=actor, membership_id=org_admin.id, break_glass=True
        )
    session.commit()
    user.totp_last_step = None
    session.commit()
    off = client.post(
        "/account/security", data={"action": "disable", "code": pyotp.TOTP(secret).now()}
    )
    assert off.status_code == 422 and "break-glass" in off.get_data(as_text=True)
    session.refresh(user)
    assert user.totp_enabled_at is not None
    assert session.scalar(select(SignInSession.id)) is not None

"""Invitations: a signed, single-use, expiring link redeemed through the freelancer IdP.

The freelancer signs in at the real OpenID Provider (oidc-provider on 127.0.0.1). Expired,
reused and forwarded invitations each end on a clear error page, leave no session and
write an audit entry.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.identity.models import Membership, Organization, SignInSession, User
from fms.identity.sso.models import ExternalIdentity, Invitation
from fms.identity.web_session import TOKEN_KEY
from fms.tenancy import ALL_TENANTS
from fms.timekeeping import utcnow
from tests.factories_identity_sso import Browser

pytestmark = [pytest.mark.idp, pytest.mark.usefixtures("sso_allowed_loopback")]
ALL = {ALL_TENANTS: True}


@pytest.fixture
def acme(session, org_admin, make_oidc_connection, oidc_idp):
    """An organization whose freelancers sign in through the test IdP (a guest directory)."""
    org = session.get(Organization, org_admin.org_id)
    connection = make_oidc_connection(
        org, issuer=oidc_idp.issuer, audience="freelancers", name="Guest accounts"
    )
    oidc_idp.add_accounts(
        {
            "frank": {"email": "frank@freelance.example", "name": "Frank Freelancer"},
            "gina": {"email": "gina@elsewhere.example", "name": "Gina Forwarded"},
        }
    )
    session.commit()
    return org, connection


def _signed_in(client) -> bool:
    with client.session_transaction() as cookie:
        return cookie.get(TOKEN_KEY) is not None


def _accept(client, link: str, login: str):
    """Open the link, pick the provider, sign in at the IdP; FMS's final answer."""
    page = client.get(link)
    assert page.status_code == 200, page.data[:300]
    start = re.search(r'href="(/sso/oidc/[^"]+)"', page.get_data(as_text=True)).group(1)
    browser = Browser(client)
    return browser.fms(browser.callback_url(start.replace("&amp;", "&"), login=login))


def _refusals(session, org_id, action) -> list[str]:
    return [
        e.after["reason"]
        for e in session.scalars(
            select(AuditEntry)
            .where(AuditEntry.org_id == org_id, AuditEntry.action == action)
            .execution_options(**ALL)
        )
    ]


def _assert_refused(response, session, client, org_id, reason, action="sso.sign_in_failed"):
    assert response.status_code in (401, 403), response.data[:400]
    assert b"Sign-in failed" in response.data or b"Invitation cannot be used" in response.data
    assert not _signed_in(client)
    assert session.scalar(select(func.count(SignInSession.id))) == 0
    assert reason in _refusals(session, org_id, action)


def test_procurement_invites_and_the_freelancer_signs_in(
    client, app, session, acme, sign_in, make_member
):
    org, connection = acme
    buyer = make_member(org, roles=("procurement",))
    staff = app.test_client()
    sign_in(staff, session.get(User, buyer.user_id), org)
    response = staff.post_form("/admin/invitations", data={"email": "Frank@Freelance.example"})
    assert response.status_code == 302  # post/redirect/get: a reload creates nothing
    response = staff.get(response.headers["Location"])
    link = re.search(r'id="invitation-link">([^<]+)<', response.get_data(as_text=True)).group(1)
    path = link.replace("http://127.0.0.1:5000", "")
    response = _accept(client, path, "frank")
    assert response.status_code == 302, response.data[:400]
    assert _signed_in(client)
    user = session.scalar(select(User).where(User.email == "frank@freelance.example"))
    membership = session.scalar(
        select(Membership).where(Membership.user_id == user.id).execution_options(**ALL)
    )
    assert membership.roles == ["freelancer"] and membership.org_id == org.id
    identity = session.scalar(select(ExternalIdentity).execution_options(**ALL))
    assert (identity.subject, identity.user_id, identity.connection_id) == (
        "frank",
        user.id,
        connection.id,
    )
    invitation = session.scalar(select(Invitation).execution_options(**ALL))
    assert invitation.redeemed_by_user_id == user.id
    assert (
        "invitation.redeemed"
        in session.scalars(select(AuditEntry.action).execution_options(**ALL)).all()
    )
    # later, the freelancer asks the sign-in page: the link to their IdP comes by mail (the
    # page itself answers as for any address, revealing no account)
    client.post("/logout")
    page = client.post("/login", data={"email": "frank@freelance.example", "action": "sso"})
    assert f"/sso/oidc/{connection.public_key}/start".encode() not in page.data
    from fms.notifications.models import OutboxMessage

    mail = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == "frank@freelance.example")
    ).all()[-1]
    assert mail.org_id is None and mail.kind == "sign_in_link"
    assert f"/sso/oidc/{connection.public_key}/start" in mail.body_text


def test_expired_invitation_is_refused(client, session, acme, make_invitation):
    org, connection = acme
    invitation, link = make_invitation(org)
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    response = client.get(link)
    _assert_refused(response, session, client, org.id, "invitation_expired", "invitation.refused")
    assert b"expired" in response.data


def test_reused_invitation_is_refused(client, app, session, acme, make_invitation):
    org, connection = acme
    invitation, link = make_invitation(org)
    session.commit()
    assert _accept(client, link, "frank").status_code == 302
    other = app.test_client()
    session.execute(SignInSession.__table__.delete())
    session.commit()
    response = other.get(link)
    _assert_refused(response, session, other, org.id, "invitation_reused", "invitation.refused")


def test_invitation_reused_between_opening_and_returning_is_refused(
    client, app, session, acme, make_invitation
):
    """Two people open the same link; the second to come back from the IdP is refused."""
    org, connection = acme
    invitation, link = make_invitation(org, allow_other_email=True)
    session.commit()
    first, second = Browser(client), Browser(app.test_client())
    starts = []
    for browser in (first, second):
        page = browser.client.get(link).get_data(as_text=True)
        start = re.search(r'href="(/sso/oidc/[^"]+)"', page).group(1).replace("&amp;", "&")
        starts.append(browser.callback_url(start, login="frank"))
    assert first.fms(starts[0]).status_code == 302
    session.execute(SignInSession.__table__.delete())
    session.commit()
    response = second.fms(starts[1])
    _assert_refused(response, session, second.client, org.id, "invitation_reused")


def test_forwarded_invitation_is_refused_for_another_verified_email(
    client, session, acme, make_invitation
):
    org, connection = acme
    invitation, link = make_invitation(org, email="frank@freelance.example")
    session.commit()
    response = _accept(client, link, "gina")  # Frank forwarded the link to Gina
    _assert_refused(response, session, client, org.id, "invitation_email_mismatch")
    assert session.scalar(select(User).where(User.email == "gina@elsewhere.example")) is None
    session.refresh(invitation)
    assert invitation.redeemed_at is None  # still usable by Frank


def test_inviter_may_allow_another_email(client, session, acme, make_invitation):
    org, connection = acme
    make_invitation(org, email="frank@freelance.example", allow_other_email=True)
    invitation, link = make_invitation(org, email="g@x.example", allow_other_email=True)
    session.commit()
    assert _accept(client, link, "gina").status_code == 302
    assert _signed_in(client)


def test_tampered_link_is_refused(client, session, acme, make_invitation):
    org, connection = acme
    invitation, link = make_invitation(org)
    session.commit()
    response = client.get(link[:-3] + "abc")
    assert response.status_code == 403 and not _signed_in(client)


def test_staff_connection_cannot_redeem_an_invitation(
    client, session, acme, make_invitation, make_oidc_connection, oidc_idp
):
    org, _ = acme
    staff_connection = make_oidc_connection(org, issuer=oidc_idp.issuer, audience="staff")
    invitation, link = make_invitation(org)
    session.commit()
    token = link.rsplit("/", 1)[1]
    response = client.get(f"/sso/oidc/{staff_connection.public_key}/start?invitation={token}")
    _assert_refused(response, session, client, org.id, "wrong_connection", "invitation.refused")

"""POST /api/v1/invitations/{id}/revocation: the API's counterpart of *Withdraw* on the
invitations page — the link stops working, audited; an accepted invitation is a 409;
another organization's a 404; only those who manage invitations."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.audit.models import AuditEntry
from fms.identity.models import Organization, User
from fms.identity.sso.models import Invitation
from fms.timekeeping import utcnow

PROBLEM = "application/problem+json"


def _url(invitation) -> str:
    return f"/api/v1/invitations/{invitation.id}/revocation"


@pytest.fixture
def admin(client, session, org_admin, sign_in):
    sign_in(
        client, session.get(User, org_admin.user_id), session.get(Organization, org_admin.org_id)
    )
    return client


@pytest.fixture
def invitation(session, org_admin, make_invitation):
    org = session.get(Organization, org_admin.org_id)
    row, link = make_invitation(org, roles=["finance"])
    session.commit()
    return row, link


def test_an_admin_withdraws_an_invitation_and_its_link_stops_working(admin, session, invitation):
    row, link = invitation
    assert admin.get(link).status_code == 200  # the link works before
    answer = admin.post(_url(row))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["status"] == "revoked" and answer.get_json()["id"] == row.id
    session.expire_all()
    assert session.get(Invitation, row.id).revoked_at is not None
    assert admin.get(link).status_code != 200
    # again: unchanged, one audit entry
    assert admin.post(_url(row)).get_json()["status"] == "revoked"
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.action == "invitation.revoked")
    ).all()
    assert actions == ["invitation.revoked"]


def test_an_accepted_invitation_cannot_be_withdrawn(admin, session, invitation):
    row, _ = invitation
    session.get(Invitation, row.id).redeemed_at = utcnow()
    session.commit()
    answer = admin.post(_url(row))
    assert answer.status_code == 409 and answer.mimetype == PROBLEM
    session.expire_all()
    assert session.get(Invitation, row.id).revoked_at is None


def test_another_organizations_invitation_is_404(admin, session, make_org, make_invitation):
    other, _ = make_invitation(make_org(), email="someone@else.example")
    session.commit()
    assert admin.post(_url(other)).status_code == 404
    session.expire_all()
    assert session.get(Invitation, other.id).revoked_at is None


def test_only_those_who_manage_invitations(client, session, invitation, sign_in, make_member):
    row, _ = invitation
    org = session.get(Organization, row.org_id)
    manager = make_member(org, roles=("hiring_manager",))
    session.commit()
    sign_in(client, session.get(User, manager.user_id), org)
    assert client.post(_url(row)).status_code == 403
    session.expire_all()
    assert session.get(Invitation, row.id).revoked_at is None


def test_a_read_token_cannot_withdraw(client, session, org_admin, invitation, actor_of):
    from fms.identity.tokens import services as tokens
    from tests.factories import as_org

    row, _ = invitation
    with as_org(session, org_admin.org_id):
        _, read = tokens.create_personal_token(
            session, actor=actor_of(org_admin), name="r", scopes=["admin:read"]
        )
        _, write = tokens.create_personal_token(
            session, actor=actor_of(org_admin), name="w", scopes=["admin:write"]
        )
    session.commit()
    assert client.post(_url(row), headers={"Authorization": f"Bearer {read}"}).status_code == 403
    answer = client.post(_url(row), headers={"Authorization": f"Bearer {write}"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "revoked"

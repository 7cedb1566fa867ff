"""Accounts are shared by all organizations: no organization's IdP or SCIM client may take
over or rewrite an account that belongs to another organization."""

import pytest
from sqlalchemy import select

from fms.identity import services
from fms.identity.models import User
from fms.identity.sso import invitations
from fms.identity.sso.scim import services as scim
from fms.identity.sso.services import SsoSignInFailed
from tests.factories import as_org
from tests.factories_identity_sso import _admin_actor


@pytest.fixture
def victim(make_org, make_member, make_user):
    org_a = make_org(name="Victim Corp")
    user = make_user(email="ceo@victim.example", name="The CEO")
    make_member(org_a, roles=("org_admin",), user=user)
    return org_a, user


def test_an_invitation_cannot_claim_another_organizations_account(
    session, victim, make_org, make_oidc_connection, make_invitation
):
    org_a, ceo = victim
    org_b = make_org(name="Evil Tenant")
    connection = make_oidc_connection(
        org_b, issuer="https://evil-idp.example", audience="freelancers"
    )
    invitation, _ = make_invitation(org_b, email="ceo@victim.example")
    session.commit()
    with pytest.raises(SsoSignInFailed) as refused:
        invitations.redeem(
            session,
            invitation_id=invitation.id,
            connection=connection,
            issuer="https://evil-idp.example",
            subject="attacker-1",
            email="ceo@victim.example",
            email_verified=True,
            name="x",
            ip=None,
        )
    assert refused.value.reason == "account_elsewhere"
    assert [o.id for o in services.organizations_of(session, ceo.id)] == [org_a.id]


def test_a_scim_client_cannot_rewrite_an_account_shared_with_another_organization(
    session, client, victim, make_org
):
    org_a, ceo = victim
    org_b = make_org()
    with as_org(session, org_b.id):
        _, token = scim.create_token(session, actor=_admin_actor(org_b), name="x")
    session.commit()
    headers = {"Authorization": "Bearer " + token}
    created = client.post(
        "/scim/v2/Users",
        headers=headers,
        json={"schemas": [scim.USER_SCHEMA], "userName": "ceo@victim.example"},
    )
    assert created.status_code == 201
    # not B's domain: an invitation the CEO may accept, no membership, the account untouched
    assert created.json["id"].startswith("inv-")
    assert [o.id for o in services.organizations_of(session, ceo.id)] == [org_a.id]
    renamed = client.put(
        f"/scim/v2/Users/{created.json['id']}",
        headers=headers,
        json={
            "schemas": [scim.USER_SCHEMA],
            "userName": "ceo@victim.example",
            "displayName": "Pwned",
        },
    )
    assert renamed.status_code == 200
    session.expire_all()
    assert session.get(User, ceo.id).name == "The CEO"
    # once the CEO accepts, the account is shared: B's IdP still cannot re-address it
    from fms.identity.sso.models import Invitation

    invitation = session.scalar(
        select(Invitation)
        .where(Invitation.email == "ceo@victim.example")
        .execution_options(all_tenants=True)
    )
    invitations.accept(
        session, invitation=invitation, user=session.get(User, ceo.id), ip=None, via="t"
    )
    session.commit()
    changed = client.put(
        f"/scim/v2/Users/{created.json['id']}",
        headers=headers,
        json={"schemas": [scim.USER_SCHEMA], "userName": "x@evil.example", "displayName": "Pwned"},
    )
    assert changed.status_code == 409
    session.expire_all()
    account = session.get(User, ceo.id)
    assert (account.email, account.name) == ("ceo@victim.example", "The CEO")


def test_a_staff_idp_cannot_sign_in_as_another_organizations_account(
    session, victim, make_org, make_oidc_connection, make_sso_domain
):
    """An organization that merely claims the domain cannot reach that account: only the
    organization that verified it (by DNS; `manual` verification is refused outside
    development and tests) speaks for its addresses."""
    from fms.identity.sso import provisioning

    org_a, ceo = victim
    org_b = make_org(name="Domain squatter")
    make_sso_domain(org_b, "victim.example", verified=False)
    connection = make_oidc_connection(
        org_b, issuer="https://squatter-idp.example", jit_provisioning=True
    )
    session.commit()
    with pytest.raises(SsoSignInFailed) as refused:
        provisioning.provision(
            session,
            connection=connection,
            issuer="https://squatter-idp.example",
            subject="attacker",
            email="ceo@victim.example",
            name="x",
            groups=[],
            ip=None,
        )
    assert refused.value.reason == "domain_not_verified"

"""/api/v1/sso/scim-tokens: the SSO page's provisioning tokens through the API — made by a
person (shown once, works on /scim/v2 at once), listed without secrets, revoked (stops at
once); an integration may list and revoke but not mint one; another organization's is a
404; bad input a 422 that makes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fms.identity.models import Organization, User
from fms.identity.sso.models import ScimToken
from fms.tenancy import ALL_TENANTS

URL = "/api/v1/sso/scim-tokens"
PROBLEM = "application/problem+json"


@pytest.fixture
def admin(client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


def _count(session) -> int:
    return session.scalar(
        select(func.count()).select_from(ScimToken).execution_options(**{ALL_TENANTS: True})
    )


def test_a_token_is_shown_once_works_and_stops_when_revoked(app, admin):
    made = admin.post(URL, json={"name": "Entra ID provisioning"})
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    token = body["token"]
    assert token.startswith("fms_scim_") and token.startswith(body["prefix"])
    assert body["revoked_at"] is None and body["connection_id"] is None
    listing = admin.get(URL)
    assert [t["id"] for t in listing.get_json()] == [body["id"]]
    assert token not in listing.get_data(as_text=True)
    scim = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert scim.get("/scim/v2/Users", headers=headers).status_code == 200
    revoked = admin.post(f"{URL}/{body['id']}/revocation")
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert scim.get("/scim/v2/Users", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "sent, pointer",
    [
        ({}, "/name"),
        ({"name": ""}, "/name"),
        ({"name": "x" * 201}, "/name"),
        ({"name": "IdP", "connection_id": "7"}, "/connection_id"),
        ({"name": "IdP", "connection_id": 999999}, "/connection_id"),  # not a staff connection here
    ],
)
def test_bad_input_is_a_422_and_makes_nothing(admin, session, sent, pointer):
    before = _count(session)
    answer = admin.post(URL, json=sent)
    assert answer.status_code == 422 and answer.mimetype == PROBLEM
    assert pointer in {e.get("pointer") for e in answer.get_json()["errors"]}
    assert _count(session) == before


def test_another_organizations_token_is_404(admin, session, make_org, make_scim_token):
    other = make_scim_token(make_org())
    session.commit()
    assert admin.post(f"{URL}/{other.id}/revocation").status_code == 404
    session.expire_all()
    assert session.get(ScimToken, other.id).revoked_at is None
    assert admin.get(URL).get_json() == []


def test_integrations_list_and_revoke_but_do_not_mint(
    app, session, org_admin, actor_of, make_scim_token
):
    from fms.identity.tokens import services as tokens
    from tests.factories import as_org

    org = session.get(Organization, org_admin.org_id)
    existing = make_scim_token(org)
    with as_org(session, org.id):
        account = tokens.create_service_account(
            session, actor=actor_of(org_admin), name="IAM", roles=["org_admin"]
        )
        _, secret = tokens.create_integration_token(
            session,
            actor=actor_of(org_admin),
            service_account_id=account.id,
            name="x",
            scopes=["admin:write"],
        )
    session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    before = _count(session)
    assert client.post(URL, json={"name": "Mine"}, headers=headers).status_code == 403
    assert _count(session) == before
    assert client.get(URL, headers=headers).status_code == 200
    revoked = client.post(f"{URL}/{existing.id}/revocation", headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]


def test_only_those_who_manage_sso(client, session, org_admin, make_member, sign_in):
    org = session.get(Organization, org_admin.org_id)
    finance = make_member(org, roles=("finance",))
    session.commit()
    sign_in(client, session.get(User, finance.user_id), org)
    assert client.get(URL).status_code == 403
    assert client.post(URL, json={"name": "x"}).status_code == 403

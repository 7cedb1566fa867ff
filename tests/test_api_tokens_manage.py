"""Managing tokens through /api/v1: integrations, their tokens, a person's own tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.identity.models import Organization, User
from fms.identity.tokens import services as tokens
from fms.identity.tokens.models import ApiToken
from fms.tenancy import ALL_TENANTS
from tests.factories import as_org


@pytest.fixture
def admin_client(client, session, org_admin, sign_in):
    sign_in(
        client, session.get(User, org_admin.user_id), session.get(Organization, org_admin.org_id)
    )
    return client


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_an_admin_creates_an_integration_and_its_token_shown_once(admin_client, session):
    created = admin_client.post("/api/v1/integrations", json={"name": "SAP", "roles": ["finance"]})
    assert created.status_code == 201, created.get_json()
    account_id = created.get_json()["id"]
    again = admin_client.post("/api/v1/integrations", json={"name": "SAP", "roles": ["finance"]})
    assert again.status_code == 409
    made = admin_client.post(
        f"/api/v1/integrations/{account_id}/tokens",
        json={"name": "prod", "scopes": ["workforce:read"], "expires_in_days": 90},
    )
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["token"].startswith("fms_it_") and body["token"].startswith(body["prefix"] + "_")
    assert body["status"] == "active" and body["expires_at"]
    listing = admin_client.get(f"/api/v1/integrations/{account_id}/tokens")
    assert listing.status_code == 200
    assert body["token"] not in listing.get_data(as_text=True)
    assert [t["prefix"] for t in listing.get_json()] == [body["prefix"]]
    # the token works, in the organization, as the integration
    current = admin_client.get("/api/v1/tokens/current", headers=bearer(body["token"]))
    assert current.status_code == 200
    assert current.get_json()["kind"] == "integration" and current.get_json()["roles"] == [
        "finance"
    ]
    # the browser session is not a token
    assert admin_client.get("/api/v1/tokens/current").status_code == 404


def test_bad_scopes_and_roles_are_refused(admin_client):
    bad = admin_client.post("/api/v1/integrations", json={"name": "X", "roles": ["pope"]})
    assert bad.status_code == 422
    account_id = admin_client.post(
        "/api/v1/integrations", json={"name": "X", "roles": ["finance"]}
    ).get_json()["id"]
    for scopes in ([], ["workforce:delete"], ["payroll:read"]):
        response = admin_client.post(
            f"/api/v1/integrations/{account_id}/tokens", json={"name": "t", "scopes": scopes}
        )
        assert response.status_code == 422, scopes


@pytest.fixture
def admin_integration(session, actor_of, org_admin):
    """An integration with the org admin role and an admin:write token; (account, row, secret)."""
    with as_org(session, org_admin.org_id):
        account = tokens.create_service_account(
            session, actor=actor_of(org_admin), name="Provisioner", roles=["org_admin"]
        )
        row, secret = tokens.create_integration_token(
            session,
            actor=actor_of(org_admin),
            service_account_id=account.id,
            name="main",
            scopes=["admin:write", "workforce:read"],
        )
    session.commit()
    return account, row, secret


def test_an_integration_token_cannot_revoke_itself(client, admin_integration):
    account, row, secret = admin_integration
    response = client.post(
        f"/api/v1/integrations/{account.id}/tokens/{row.id}/revocation", headers=bearer(secret)
    )
    assert response.status_code == 409
    assert client.get("/api/v1/tokens/current", headers=bearer(secret)).status_code == 200


def test_an_integration_token_cannot_widen_its_scopes_nor_roles(client, admin_integration):
    account, _, secret = admin_integration
    url = f"/api/v1/integrations/{account.id}/tokens"
    wider = client.post(
        url, json={"name": "w", "scopes": ["timesheets:write"]}, headers=bearer(secret)
    )
    assert wider.status_code == 403
    within = client.post(
        url, json={"name": "r", "scopes": ["workforce:read"]}, headers=bearer(secret)
    )
    assert within.status_code == 201
    # it revokes the token it made, not itself
    made = within.get_json()
    revoked = client.post(f"{url}/{made['id']}/revocation", headers=bearer(secret))
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    # nor can it change its own integration (roles, or switch itself off)
    own = client.patch(
        f"/api/v1/integrations/{account.id}", json={"is_active": False}, headers=bearer(secret)
    )
    assert own.status_code == 409


def test_a_read_token_cannot_manage_integrations(client, session, actor_of, org_admin):
    with as_org(session, org_admin.org_id):
        account = tokens.create_service_account(
            session, actor=actor_of(org_admin), name="Reader", roles=["org_admin"]
        )
        _, secret = tokens.create_integration_token(
            session,
            actor=actor_of(org_admin),
            service_account_id=account.id,
            name="r",
            scopes=["admin:read"],
        )
    session.commit()
    assert client.get("/api/v1/integrations", headers=bearer(secret)).status_code == 200
    refused = client.post(
        "/api/v1/integrations", json={"name": "Y", "roles": ["finance"]}, headers=bearer(secret)
    )
    assert refused.status_code == 403


def test_other_organizations_integrations_are_404(
    admin_client, session, make_org, make_member, actor_of
):
    other = make_org()
    their_admin = make_member(other, roles=("org_admin",))
    with as_org(session, other.id):
        account = tokens.create_service_account(
            session, actor=actor_of(their_admin), name="Theirs", roles=["finance"]
        )
    session.commit()
    assert admin_client.get(f"/api/v1/integrations/{account.id}").status_code == 404
    response = admin_client.post(
        f"/api/v1/integrations/{account.id}/tokens",
        json={"name": "x", "scopes": ["workforce:read"]},
    )
    assert response.status_code == 404


def test_a_person_manages_their_own_tokens(admin_client, session, make_member, org_admin):
    made = admin_client.post(
        "/api/v1/my/tokens", json={"name": "laptop", "scopes": ["workforce:read"]}
    )
    assert made.status_code == 201, made.get_json()
    secret, token_id = made.get_json()["token"], made.get_json()["id"]
    assert secret.startswith("fms_pt_")
    assert [t["id"] for t in admin_client.get("/api/v1/my/tokens").get_json()] == [token_id]
    # the token sees its own list too, and can end itself
    assert admin_client.get("/api/v1/my/tokens", headers=bearer(secret)).status_code == 200
    ended = admin_client.post(f"/api/v1/my/tokens/{token_id}/revocation", headers=bearer(secret))
    assert ended.status_code == 200
    assert admin_client.get("/api/v1/my/tokens", headers=bearer(secret)).status_code == 401
    # someone else's personal token is not found
    other = make_member(session.get(Organization, org_admin.org_id), roles=("finance",))
    with as_org(session, org_admin.org_id):
        from fms.identity.actor import Actor

        row, _ = tokens.create_personal_token(
            session,
            actor=Actor(user_id=other.user_id, org_id=other.org_id, roles=frozenset(other.roles)),
            name="theirs",
            scopes=["workforce:read"],
        )
    session.commit()
    assert admin_client.post(f"/api/v1/my/tokens/{row.id}/revocation").status_code == 404
    stored = session.scalar(
        select(ApiToken).where(ApiToken.id == row.id).execution_options(**{ALL_TENANTS: True})
    )
    assert stored.revoked_at is None

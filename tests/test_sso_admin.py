"""Org admins manage SSO connections, domains and the SSO policy (pages and API)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.audit.models import AuditEntry
from fms.encryption import decrypt
from fms.errors import InvalidInput
from fms.identity.models import Organization, User
from fms.identity.sso.models import SsoConnection, SsoDomain
from fms.outbound import check_outbound_url
from fms.tenancy import ALL_TENANTS
from tests.factories import as_org


@pytest.fixture
def admin(client, session, org_admin, sign_in, sso_allowed_loopback):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    return org


def _form(issuer="http://127.0.0.1:9999", **overrides):
    data = {
        "name": "Acme Okta",
        "audience": "staff",
        "issuer": issuer,
        "client_id": "fms-client",
        "client_secret": "s3cret-value-never-shown",
        "scopes": "openid email profile",
        "claim_email": "email",
        "claim_name": "name",
        "claim_groups": "groups",
        "algorithms": ["RS256"],
        "jit_provisioning": "y",
        "is_active": "y",
    }
    data.update(overrides)
    return data


def test_admin_adds_a_connection_and_the_secret_is_never_shown(
    client, session, admin, fake_discovery
):
    response = client.post_form("/admin/sso/connections/new", data=_form(fake_discovery.issuer))
    assert response.status_code == 302
    with as_org(session, admin.id):
        connection = session.scalar(select(SsoConnection))
    assert connection.client_secret_encrypted != "s3cret-value-never-shown"
    assert decrypt(connection.client_secret_encrypted) == "s3cret-value-never-shown"
    page = client.get(f"/admin/sso/connections/{connection.id}")
    assert page.status_code == 200
    assert b"s3cret-value-never-shown" not in page.data
    assert b"/sso/oidc/callback" in page.data
    # saving without a secret keeps the stored one
    client.post(
        f"/admin/sso/connections/{connection.id}",
        data=_form(fake_discovery.issuer, client_secret="", name="X"),
    )
    session.refresh(connection)
    assert connection.name == "X"
    assert decrypt(connection.client_secret_encrypted) == "s3cret-value-never-shown"
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action.like("sso_connection.%"))
    ).all()
    assert [e.action for e in entries] == ["sso_connection.created", "sso_connection.updated"]
    assert all("s3cret" not in str(e.after) for e in entries)
    assert client.get("/admin/sso").status_code == 200


def test_bad_connection_input_shows_inline_errors(client, session, admin):
    response = client.post_form(
        "/admin/sso/connections/new", data=_form(issuer="ftp://nope", scopes="email")
    )
    assert response.status_code == 422
    assert b"Not a URL" in response.data and b"Must include openid" in response.data


def test_private_addresses_are_refused_unless_allowed(app, monkeypatch):
    with app.app_context():
        monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "")
        for url in (
            "http://127.0.0.1:9000",
            "https://127.0.0.1",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest",
            "https://[::1]/",
        ):
            with pytest.raises(InvalidInput):
                check_outbound_url(url)
        monkeypatch.setitem(app.config, "FMS_SSO_ALLOWED_HOSTS", "127.0.0.1")
        assert check_outbound_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"


def test_a_verified_domain_belongs_to_one_organization(
    client, session, admin, make_org, make_sso_domain
):
    other = make_org()
    make_sso_domain(other, "taken.example")
    session.commit()
    assert (
        client.post_form(
            "/admin/sso", data={"action": "domain", "domain-domain": "taken.example"}
        ).status_code
        == 302
    )
    assert (
        client.post_form(
            "/admin/sso", data={"action": "domain", "domain-domain": "mine.example"}
        ).status_code
        == 302
    )
    with as_org(session, admin.id):
        taken, mine = session.scalars(select(SsoDomain).order_by(SsoDomain.domain.desc())).all()
    response = client.post(
        f"/admin/sso/domains/{taken.id}",
        data={"action": "verify"},
        headers={"Referer": "http://localhost/admin/sso"},
    )
    assert response.status_code == 302  # refused with a message, nothing changed
    assert b"verified by another organization" in client.get("/admin/sso").data
    session.refresh(taken)
    assert taken.verified_at is None
    client.post(f"/admin/sso/domains/{mine.id}", data={"action": "verify"})
    session.refresh(mine)
    assert mine.verified_domain == "mine.example"


def test_sso_required_needs_a_connection_and_a_break_glass_admin(
    client, session, admin, org_admin, make_oidc_connection
):
    data = {"action": "policy", "policy-sso_required": "y"}
    response = client.post("/admin/sso", data=data, headers={"Referer": "/admin/sso"})
    assert response.status_code in (302, 422)
    session.refresh(admin)
    assert admin.sso_required is False
    make_oidc_connection(admin, issuer="https://idp.example")
    org_admin.break_glass = True
    session.commit()
    assert client.post("/admin/sso", data=data).status_code == 302
    session.refresh(admin)
    assert admin.sso_required is True


def test_requiring_sso_ends_password_sessions_of_other_members(
    app, client, session, admin, org_admin, make_member, make_oidc_connection, sign_in
):
    other = make_member(admin, roles=("finance",))
    other_client = app.test_client()
    sign_in(other_client, session.get(User, other.user_id), admin)
    assert other_client.get("/").status_code == 200
    make_oidc_connection(admin, issuer="https://idp.example")
    org_admin.break_glass = True
    session.commit()
    # break-glass admins work with a password and a TOTP code when SSO is required
    sign_in(client, session.get(User, org_admin.user_id), admin, method="password_totp")
    response = client.patch("/api/v1/sso/policy", json={"sso_required": True})
    assert response.status_code == 200, response.json
    assert other_client.get("/").status_code == 302  # signed out
    assert client.get("/").status_code == 200  # the break-glass admin stays


def test_api_manages_connections_without_returning_the_secret(
    client, session, admin, fake_discovery
):
    body = {
        "name": "Entra",
        "issuer": fake_discovery.issuer,
        "client_id": "abc",
        "client_secret": "top-secret-value",
    }
    response = client.post("/api/v1/sso/connections", json=body)
    assert response.status_code == 201, response.json
    created = response.json
    assert "client_secret" not in created and created["has_client_secret"] is True
    assert "top-secret-value" not in response.get_data(as_text=True)
    response = client.patch(
        f"/api/v1/sso/connections/{created['id']}", json={"algorithms": ["HS256"]}
    )
    assert response.status_code == 422
    response = client.post("/api/v1/sso/domains", json={"domain": "entra.example"})
    assert response.status_code == 201
    verify = client.post(f"/api/v1/sso/domains/{response.json['id']}/verify")
    assert verify.status_code == 200 and verify.json["verified"] is True
    assert client.delete(f"/api/v1/sso/connections/{created['id']}").status_code == 204


def test_staff_without_sso_manage_cannot_touch_sso(
    client, session, org_admin, make_member, sign_in
):
    org = session.get(Organization, org_admin.org_id)
    finance = make_member(org, roles=("finance",))
    sign_in(client, session.get(User, finance.user_id), org)
    assert client.get("/admin/sso").status_code == 403
    assert client.get("/api/v1/sso/connections").status_code == 403
    assert (
        session.scalars(select(SsoConnection).execution_options(**{ALL_TENANTS: True})).all() == []
    )


def test_admin_creates_a_scim_token_shown_once_and_revokes_it(client, session, admin):
    response = client.post_form("/admin/sso", data={"action": "scim_token", "scim-name": "Entra"})
    assert response.status_code == 302  # post/redirect/get: a reload creates nothing
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    token = shown.split('id="new-scim-token">', 1)[1].split("<", 1)[0]
    assert token.startswith("fms_scim_")
    api = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    page = client.get("/admin/sso").get_data(as_text=True)
    assert token not in page and "Entra" in page
    from fms.identity.sso.models import ScimToken

    with as_org(session, admin.id):
        record = session.scalar(select(ScimToken))
    assert client.post(f"/admin/sso/scim-tokens/{record.id}/revoke").status_code == 302
    api = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401


@pytest.mark.idp
def test_admin_adds_a_saml_connection_from_the_metadata_url(client, session, admin, saml_idp):
    data = {
        "name": "Acme Entra",
        "audience": "staff",
        "idp_metadata_url": saml_idp.entity_id,
        "idp_metadata_xml": "",
        "jit_provisioning": "y",
        "is_active": "y",
    }
    response = client.post_form("/admin/sso/saml/new", data=data)
    assert response.status_code == 302, response.data[:500]
    with as_org(session, admin.id):
        connection = session.scalar(select(SsoConnection))
    assert connection.protocol == "saml" and connection.idp_entity_id == saml_idp.entity_id
    page = client.get(f"/admin/sso/connections/{connection.id}")
    assert page.status_code == 200
    assert f"/sso/saml/{connection.public_key}/acs".encode() in page.data
    bad = client.post_form(
        "/admin/sso/saml/new",
        data={**data, "idp_metadata_url": "", "idp_metadata_xml": "<!DOCTYPE x><x/>"},
    )
    assert bad.status_code == 422


@pytest.mark.idp
def test_api_adds_a_saml_connection_from_uploaded_metadata(client, session, admin, saml_idp):
    body = {"protocol": "saml", "name": "Okta SAML", "idp_metadata_xml": saml_idp.metadata()}
    response = client.post("/api/v1/sso/connections", json=body)
    assert response.status_code == 201, response.json
    assert response.json["idp_entity_id"] == saml_idp.entity_id
    assert response.json["saml_metadata_path"].endswith("/metadata")
    assert client.get(response.json["saml_metadata_path"]).status_code == 200
    bad = client.post("/api/v1/sso/connections", json={"protocol": "saml", "name": "X"})
    assert bad.status_code == 422

"""Connection settings of org admins: client authentication, who manages roles, the
discovery check on save, "Test connection", the group-mapping warning, and which connection
a verified domain sends its people to (pages and API)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.audit.models import AuditEntry
from fms.identity.models import Organization, User
from fms.identity.sso.models import SsoConnection, SsoDomain
from tests.factories import as_org


@pytest.fixture
def admin(client, session, org_admin, sign_in, sso_allowed_loopback):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    return org


def _form(issuer, **overrides):
    data = {
        "name": "Acme Okta",
        "audience": "staff",
        "issuer": issuer,
        "client_id": "fms-client",
        "client_secret": "s3cret-value-never-shown",
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": "openid email profile groups",
        "claim_email": "email",
        "claim_name": "name",
        "claim_groups": "groups",
        "algorithms": ["RS256"],
        "roles_managed_by": "idp",
        "jit_provisioning": "y",
        "is_active": "y",
    }
    data.update(overrides)
    return data


def _connection(session, org) -> SsoConnection:
    with as_org(session, org.id):
        return session.scalar(select(SsoConnection).order_by(SsoConnection.id.desc()))


def _updates(session, org) -> list[AuditEntry]:
    with as_org(session, org.id):
        return session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "sso_connection.updated")
            .order_by(AuditEntry.id)
        ).all()


# --- client authentication and role ownership -------------------------------------------------


def test_form_sets_client_authentication_and_role_ownership_with_an_audit_entry(
    client, session, admin, fake_discovery
):
    page = client.get("/admin/sso/connections/new").get_data(as_text=True)
    assert "client_secret_post" in page and "Who decides people" in page
    assert 'value="openid email profile groups"' in page  # groups asked for by default
    assert (
        client.post_form(
            "/admin/sso/connections/new", data=_form(fake_discovery.issuer)
        ).status_code
        == 302
    )
    connection = _connection(session, admin)
    assert connection.token_endpoint_auth_method == "client_secret_basic"
    response = client.post(
        f"/admin/sso/connections/{connection.id}",
        data=_form(
            fake_discovery.issuer,
            client_secret="",
            token_endpoint_auth_method="client_secret_post",
            roles_managed_by="fms",
            refuse_unmapped="y",
        ),
    )
    assert response.status_code == 302, response.data[:500]
    session.refresh(connection)
    assert connection.token_endpoint_auth_method == "client_secret_post"
    assert (connection.roles_managed_by, connection.refuse_unmapped) == ("fms", True)
    [entry] = _updates(session, admin)
    assert entry.before["token_endpoint_auth_method"] == "client_secret_basic"
    assert entry.after["token_endpoint_auth_method"] == "client_secret_post"
    assert (entry.before["roles_managed_by"], entry.after["roles_managed_by"]) == ("idp", "fms")
    assert (entry.before["refuse_unmapped"], entry.after["refuse_unmapped"]) == (False, True)


def test_api_validates_the_new_settings_and_changes_nothing_on_bad_input(
    client, session, admin, fake_discovery
):
    body = {
        "name": "Entra",
        "issuer": fake_discovery.issuer,
        "client_id": "a",
        "client_secret": "b",
    }
    created = client.post("/api/v1/sso/connections", json=body)
    assert created.status_code == 201, created.json
    assert created.json["scopes"].split() == ["openid", "email", "profile", "groups"]
    assert created.json["token_endpoint_auth_method"] == "client_secret_basic"
    assert created.json["roles_managed_by"] == "idp" and created.json["refuse_unmapped"] is False
    url = f"/api/v1/sso/connections/{created.json['id']}"
    for bad in (
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"roles_managed_by": "everyone"},
        {"refuse_unmapped": "perhaps"},
    ):
        response = client.patch(url, json=bad)
        assert response.status_code == 422, bad
        assert response.content_type.startswith("application/problem+json")
    assert _updates(session, admin) == []
    response = client.patch(
        url, json={"token_endpoint_auth_method": "client_secret_post", "refuse_unmapped": True}
    )
    assert response.status_code == 200, response.json
    assert response.json["token_endpoint_auth_method"] == "client_secret_post"
    assert len(_updates(session, admin)) == 1


# --- the discovery check on save -------------------------------------------------------------


def test_saving_checks_the_issuer_against_discovery(client, session, admin, fake_discovery):
    fake_discovery.doc["issuer"] = fake_discovery.issuer + "/"  # the IdP names another
    response = client.post_form("/admin/sso/connections/new", data=_form(fake_discovery.issuer))
    assert response.status_code == 422
    assert b"names another issuer" in response.data
    api = client.post(
        "/api/v1/sso/connections",
        json={"name": "X", "issuer": fake_discovery.issuer, "client_id": "a", "client_secret": "b"},
    )
    assert api.status_code == 422
    assert "issuer" in str(api.json)
    unreachable = "http://127.0.0.1:9"  # nothing listens there
    response = client.post_form("/admin/sso/connections/new", data=_form(unreachable))
    assert response.status_code == 422
    assert b"No discovery document could be read" in response.data
    with as_org(session, admin.id):
        assert session.scalar(select(SsoConnection)) is None


# --- Test connection --------------------------------------------------------------------------


def test_test_connection_reports_what_discovery_and_keys_say(
    client, session, admin, fake_discovery, make_oidc_connection
):
    connection = make_oidc_connection(
        admin,
        issuer=fake_discovery.issuer,
        token_endpoint_auth_method="client_secret_post",
        algorithms=["RS256", "ES256"],
    )
    session.commit()
    response = client.post(f"/api/v1/sso/connections/{connection.id}/test")
    assert response.status_code == 200, response.json
    report = response.json
    texts = [f["text"] for f in report["findings"]]
    levels = {f["text"]: f["level"] for f in report["findings"]}
    assert report["ok"] is True
    assert any(t.startswith("Issuer matches") for t in texts)
    assert any("2 signing key(s): ES256, RS256" in t for t in texts)
    assert report["details"]["endpoints"]["token_endpoint"] == fake_discovery.issuer + "/token"
    warning = next(t for t in texts if "client_secret_post" in t)
    assert levels[warning] == "warning"  # the IdP lists basic only
    assert report["details"]["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert any("does not list groups" in t for t in texts)
    # the page button shows the same
    page = client.post(f"/admin/sso/connections/{connection.id}", data={"action": "test"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="sso-test-findings"' in html and "Issuer matches" in html
    # a wrong issuer in discovery is an error; nothing was changed by testing
    fake_discovery.doc["issuer"] = "https://elsewhere.example"
    report = client.post(f"/api/v1/sso/connections/{connection.id}/test").json
    assert report["ok"] is False
    assert any(f["level"] == "error" and "does not match" in f["text"] for f in report["findings"])
    assert _updates(session, admin) == []


@pytest.mark.idp
def test_test_connection_of_saml_reads_the_metadata(client, session, admin, saml_idp):
    body = {"protocol": "saml", "name": "Okta SAML", "idp_metadata_url": saml_idp.entity_id}
    created = client.post("/api/v1/sso/connections", json=body)
    assert created.status_code == 201, created.json
    report = client.post(f"/api/v1/sso/connections/{created.json['id']}/test").json
    assert report["ok"] is True, report
    assert report["details"]["entity_id"] == saml_idp.entity_id
    assert report["details"]["sso_bindings"] == [
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
    ]
    [certificate] = report["details"]["certificates"]
    assert certificate["expires"] > "2026"
    assert any(f["text"].startswith("Signing certificate valid until") for f in report["findings"])


# --- the group-mapping warning ----------------------------------------------------------------


def test_warning_when_a_mapping_exists_but_the_connection_asks_for_no_groups(
    client, session, admin, make_oidc_connection
):
    connection = make_oidc_connection(
        admin,
        issuer="https://idp.example",
        scopes="openid email profile",
        name="No groups",
        group_roles={"fms-admins": ["org_admin"]},
    )
    session.commit()
    settings = client.get("/admin/sso").get_data(as_text=True)
    assert 'id="sso-group-warnings"' in settings and "do not ask for groups" in settings
    page = client.get(f"/admin/sso/connections/{connection.id}").get_data(as_text=True)
    assert "do not ask for groups" in page
    # FMS manages roles for this connection: the mapping does not apply, no warning
    connection.roles_managed_by = "fms"
    session.commit()
    assert 'id="sso-group-warnings"' not in client.get("/admin/sso").get_data(as_text=True)
    # asking for groups: no warning either
    connection.roles_managed_by, connection.scopes = "idp", "openid email profile groups"
    session.commit()
    assert 'id="sso-group-warnings"' not in client.get("/admin/sso").get_data(as_text=True)
    # and none without a mapping
    connection.group_roles, connection.scopes = {}, "openid email"
    session.commit()
    assert 'id="sso-group-warnings"' not in client.get("/admin/sso").get_data(as_text=True)


# --- home-realm discovery: the domain's chosen connection -------------------------------------


def _sso_link(client, email: str) -> str:
    page = client.post("/login", data={"email": email, "action": "sso"}).get_data(as_text=True)
    return page.split('href="/sso/', 1)[1].split('"', 1)[0]


def test_domain_uses_the_chosen_connection_and_falls_back_to_the_oldest(
    app, client, session, admin, make_oidc_connection, make_sso_domain
):
    older = make_oidc_connection(admin, issuer="https://idp.example", name="Okta")
    newer = make_oidc_connection(admin, issuer="https://idp2.example", name="Entra")
    claim = make_sso_domain(admin, "acme.example")
    session.commit()
    visitor = app.test_client()
    assert _sso_link(visitor, "x@acme.example").startswith(f"oidc/{older.public_key}/")
    # the settings page offers the staff connections for the domain
    page = client.get("/admin/sso").get_data(as_text=True)
    assert f'<option value="{newer.id}"' in page
    response = client.post(
        f"/admin/sso/domains/{claim.id}", data={"action": "connection", "connection_id": newer.id}
    )
    assert response.status_code == 302
    session.refresh(claim)
    assert claim.connection_id == newer.id
    assert _sso_link(visitor, "x@acme.example").startswith(f"oidc/{newer.public_key}/")
    with as_org(session, admin.id):
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "sso_domain.connection_chosen")
        )
    assert entry.after == {"domain": "acme.example", "connection_id": newer.id}
    # the API shows it, and null goes back to the oldest
    listed = client.get("/api/v1/sso/domains").json
    assert listed[0]["connection_id"] == newer.id
    response = client.patch(f"/api/v1/sso/domains/{claim.id}", json={"connection_id": None})
    assert response.status_code == 200 and response.json["connection_id"] is None
    assert _sso_link(visitor, "x@acme.example").startswith(f"oidc/{older.public_key}/")
    # a chosen connection that is switched off sends nobody to another one
    client.patch(f"/api/v1/sso/domains/{claim.id}", json={"connection_id": newer.id})
    newer.is_active = False
    session.commit()
    response = visitor.post("/login", data={"email": "x@acme.example", "action": "sso"})
    assert b'href="/sso/' not in response.data


def test_domain_refuses_another_organizations_or_a_freelancer_connection(
    client, session, admin, make_org, make_oidc_connection, make_sso_domain
):
    other_org = make_org()
    foreign = make_oidc_connection(other_org, issuer="https://idp.example", name="Theirs")
    guests = make_oidc_connection(
        admin, issuer="https://idp.example", name="Guests", audience="freelancers"
    )
    claim = make_sso_domain(admin, "acme.example")
    session.commit()
    url = f"/api/v1/sso/domains/{claim.id}"
    assert client.patch(url, json={"connection_id": foreign.id}).status_code == 404
    response = client.patch(url, json={"connection_id": guests.id})
    assert response.status_code == 422
    assert response.content_type.startswith("application/problem+json")
    assert client.patch(url, json={"connection_id": "7"}).status_code == 422
    assert client.patch(url, json={"connection_id": 2**64}).status_code == 422
    page = client.post(
        f"/admin/sso/domains/{claim.id}", data={"action": "connection", "connection_id": foreign.id}
    )
    assert page.status_code == 404
    page = client.post(
        f"/admin/sso/domains/{claim.id}", data={"action": "connection", "connection_id": "x"}
    )
    assert page.status_code == 404
    page = client.post(
        f"/admin/sso/domains/{claim.id}", data={"action": "connection", "connection_id": guests.id}
    )
    assert page.status_code == 302
    session.refresh(claim)
    assert claim.connection_id is None
    with as_org(session, admin.id):
        assert session.scalar(select(SsoDomain.connection_id)) is None


# --- the group-to-role mapping belongs to each connection ------------------------------------


def test_each_connection_maps_groups_with_role_names_as_the_ui_shows_them(
    client, session, admin, fake_discovery
):
    mapping = "fms-buyers = Procurement, hiring manager\n# a comment\nFMS Admins = org_admin"
    response = client.post_form(
        "/admin/sso/connections/new",
        data=_form(fake_discovery.issuer, group_roles=mapping, default_roles=["compliance"]),
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-600:]
    connection = _connection(session, admin)
    assert connection.group_roles == {
        "fms-buyers": ["hiring_manager", "procurement"],
        "FMS Admins": ["org_admin"],
    }
    assert connection.default_roles == ["compliance"]
    page = client.get(f"/admin/sso/connections/{connection.id}").get_data(as_text=True)
    assert "fms-buyers = Hiring manager, Procurement" in page  # shown as the UI names them
    # bad lines and unknown roles are form errors that change nothing
    for bad in ("no equals sign here", "fms-x = Janitor"):
        refused = client.post(
            f"/admin/sso/connections/{connection.id}",
            data=_form(fake_discovery.issuer, group_roles=bad),
        )
        assert refused.status_code == 422
    session.refresh(connection)
    assert connection.group_roles["FMS Admins"] == ["org_admin"]
    # the API speaks the same mapping
    api = client.patch(
        f"/api/v1/sso/connections/{connection.id}",
        json={"group_roles": {"Finance Team": ["Finance"]}, "default_roles": ["hiring_manager"]},
    )
    assert api.status_code == 200, api.get_json()
    assert api.get_json()["group_roles"] == {"Finance Team": ["finance"]}
    wrong = client.patch(
        f"/api/v1/sso/connections/{connection.id}", json={"group_roles": {"x": ["root"]}}
    )
    assert wrong.status_code == 422 and wrong.get_json()["errors"]

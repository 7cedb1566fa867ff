"""Housekeeping and the endpoints that carry their own proof instead of a CSRF token."""

from datetime import timedelta

from sqlalchemy import func, select

from fms.identity.models import Organization
from fms.identity.sso import services as sso
from fms.identity.sso.models import SamlAssertionSeen, SsoLoginRequest
from fms.identity.sso.scim import services as scim
from fms.tenancy import ALL_TENANTS
from fms.timekeeping import utcnow
from tests.factories import as_org


def test_stale_sign_in_state_is_purged(session, org_admin, make_oidc_connection):
    org = session.get(Organization, org_admin.org_id)
    connection = make_oidc_connection(org, issuer="https://idp.example")
    old = utcnow() - timedelta(days=1)
    with as_org(session, org.id):
        session.add_all(
            [
                SsoLoginRequest(
                    org_id=org.id,
                    state_hash="a" * 64,
                    connection_id=connection.id,
                    browser_hash="-",
                    nonce="-",
                    code_verifier="-",
                    created_at=old,
                ),
                SsoLoginRequest(
                    org_id=org.id,
                    state_hash="b" * 64,
                    connection_id=connection.id,
                    browser_hash="-",
                    nonce="-",
                    code_verifier="-",
                ),
                SamlAssertionSeen(
                    org_id=org.id, connection_id=connection.id, assertion_id="x", expires_at=old
                ),
                SamlAssertionSeen(
                    org_id=org.id,
                    connection_id=connection.id,
                    assertion_id="y",
                    expires_at=utcnow() + timedelta(minutes=5),
                ),
            ]
        )
        session.flush()
    assert sso.purge_stale_sign_in_state(session) == 2
    count = select(func.count(SsoLoginRequest.id)).execution_options(**{ALL_TENANTS: True})
    assert session.scalar(count) == 1


def test_scim_and_the_saml_acs_need_no_csrf_token(
    app, client, session, org_admin, actor_of, make_saml_connection, monkeypatch
):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    org = session.get(Organization, org_admin.org_id)
    with as_org(session, org.id):
        _, token = scim.create_token(session, actor=actor_of(org_admin), name="IdP")
    session.commit()
    response = client.post(
        "/scim/v2/Users",
        json={"userName": "csrf@x.example", "emails": [{"value": "csrf@x.example"}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    # the ACS is reached (and refuses the junk on its own terms), not stopped by CSRF
    metadata = (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'entityID="https://idp.example/"><md:IDPSSODescriptor '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>'
        "</md:EntityDescriptor>"
    )
    connection = make_saml_connection(org, metadata=metadata)
    session.commit()
    response = client.post(f"/sso/saml/{connection.public_key}/acs", data={"SAMLResponse": "x"})
    assert response.status_code == 401
    assert b"Sign-in failed" in response.data
    # ordinary forms still need their token
    assert client.post("/login", data={"email": "a@b.example", "password": "x"}).status_code == 400

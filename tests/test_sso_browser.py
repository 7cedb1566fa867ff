"""One SAML sign-in in a real browser: headless Debian Chromium through Playwright.

FMS runs on 127.0.0.1 (a live server on a committed database), the IdP on 127.0.0.2: a
different site, so the IdP's auto-submitted POST to the ACS is cross-site and arrives
without FMS's SameSite=Lax cookie, as with a real IdP.
"""

from __future__ import annotations

import pytest

from fms.identity.models import Membership, Organization, User
from fms.identity.sso.models import SsoConnection, SsoDomain
from fms.tenancy import scope_session
from fms.timekeeping import utcnow
from tests.factories import PASSWORD_HASH

pytestmark = [pytest.mark.idp, pytest.mark.browser]


@pytest.fixture
def acme_saml(committed, saml_idp):
    from fms.identity.sso import saml

    session = committed
    org = Organization(name="Acme", slug="acme-browser")
    session.add(org)
    session.flush()
    scope_session(session, org.id)
    admin = User(email="admin@elsewhere.example", name="Admin", password_hash=PASSWORD_HASH)
    session.add(admin)
    session.flush()
    session.add(Membership(org_id=org.id, user_id=admin.id, roles=["org_admin"]))
    metadata = saml_idp.metadata()
    connection = SsoConnection(
        org_id=org.id,
        name="Acme SAML",
        protocol="saml",
        idp_metadata_xml=metadata,
        idp_entity_id=saml.parse_idp_metadata(metadata),
        group_roles={"fms-admins": ["org_admin"]},
    )
    session.add(connection)
    session.add(
        SsoDomain(
            org_id=org.id,
            domain="acme.example",
            verified_domain="acme.example",
            verified_at=utcnow(),
        )
    )
    session.commit()
    return org


def test_saml_sign_in_in_chromium(live_fms, acme_saml, saml_idp, chromium):
    page = chromium.new_page()
    try:
        page.goto(f"{live_fms}/login")
        page.fill("input[name=email]", "alice@acme.example")
        page.click("button[value=sso]")
        page.wait_for_url(f"{saml_idp.base}/**")
        page.fill("#login", "alice")
        page.fill("#password", "any")
        page.click("#sign-in")
        # the IdP's page posts the answer to FMS's ACS (cross-site) and FMS signs in
        page.wait_for_url(f"{live_fms}/", timeout=15000)
        assert "Alice Admin" in page.content()
        cookies = {c["name"]: c for c in page.context.cookies(live_fms)}
        assert cookies["fms_session"]["httpOnly"] is True
        assert cookies["fms_session"]["sameSite"] == "Lax"
    finally:
        page.close()

"""Roles follow the identity provider through real sign-ins: the bundled OpenID Provider
and SAML IdP change a person's groups, and the next sign-in recomputes the roles."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from fms.identity.models import Membership, Organization, User
from fms.tenancy import ALL_TENANTS
from tests.factories_identity_sso import Browser, saml_form

pytestmark = [pytest.mark.idp, pytest.mark.usefixtures("sso_allowed_loopback")]
GROUPS = {"fms-admins": ["org_admin"], "fms-procurement": ["procurement"]}


def _roles(session, email):
    session.expire_all()
    user = session.scalar(select(User).where(User.email == email))
    return session.scalar(
        select(Membership.roles)
        .where(Membership.user_id == user.id)
        .execution_options(**{ALL_TENANTS: True})
    )


@pytest.fixture
def mapped(session, org_admin, make_sso_domain):
    org = session.get(Organization, org_admin.org_id)
    make_sso_domain(org, "roles.example")
    return org


def test_oidc_roles_drop_to_the_defaults_when_groups_stop_mapping(
    app, session, mapped, make_oidc_connection, oidc_idp
):
    connection = make_oidc_connection(mapped, issuer=oidc_idp.issuer, group_roles=GROUPS)
    session.commit()
    account = {"email": "rita@roles.example", "name": "Rita", "groups": ["fms-procurement"]}

    def sign_in():
        client = app.test_client()
        browser = Browser(client)
        start = f"/sso/oidc/{connection.public_key}/start"
        assert browser.fms(browser.callback_url(start, login="rita")).status_code == 302

    oidc_idp.add_accounts({"rita": account})
    sign_in()
    assert _roles(session, "rita@roles.example") == ["procurement"]
    oidc_idp.add_accounts({"rita": {**account, "groups": ["unmapped-group"]}})
    sign_in()
    assert _roles(session, "rita@roles.example") == ["hiring_manager"]


def test_saml_roles_drop_to_the_defaults_when_groups_stop_mapping(
    app, session, mapped, make_saml_connection, saml_idp
):
    connection = make_saml_connection(mapped, metadata=saml_idp.metadata(), group_roles=GROUPS)
    session.commit()
    account = {"mail": "sven@roles.example", "displayName": "Sven", "groups": ["fms-procurement"]}

    def sign_in():
        client = app.test_client()
        start = client.get(f"/sso/saml/{connection.public_key}/start")
        page = requests.get(start.headers["Location"], timeout=10).text
        uid = re.search(r'name="uid" value="(\w+)"', page).group(1)
        idp = start.headers["Location"].split("/sso/redirect")[0]
        answer = requests.post(f"{idp}/login", data={"uid": uid, "login": "sven"}, timeout=10)
        action, fields = saml_form(answer.text)
        assert client.post(urlsplit(action).path, data=fields).status_code == 302

    saml_idp.add_accounts({"sven": account})
    sign_in()
    assert _roles(session, "sven@roles.example") == ["procurement"]
    saml_idp.add_accounts({"sven": {**account, "groups": []}})
    sign_in()
    assert _roles(session, "sven@roles.example") == ["hiring_manager"]

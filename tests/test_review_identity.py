"""Security review of the identity model (review-identity): each test states a rule from
README ("Accounts and memberships", "SSO setup", "Security notes") and fails on the code
it was written against.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.encryption import encrypt
from fms.identity import memberships
from fms.identity import services as identity
from fms.identity.models import Membership, Organization, SignInSession, User
from fms.identity.sso import provisioning
from fms.identity.sso.scim import services as scim
from fms.tenancy import ALL_TENANTS
from fms.timekeeping import utcnow
from tests.factories import PASSWORD, as_org

ALL = {ALL_TENANTS: True}


def _user(session, membership) -> User:
    return session.get(User, membership.user_id)


def _scim_client(client, token):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def call(method, path, json=None, data=None):
        return client.open(f"/scim/v2{path}", method=method, json=json, data=data, headers=headers)

    return call


@pytest.fixture
def scim_a(session, org_admin, actor_of, make_sso_domain, make_oidc_connection, client):
    """Organization A with verified domain a.example and a SCIM token of its staff IdP."""
    org = session.get(Organization, org_admin.org_id)
    connection = make_oidc_connection(org, issuer="https://idp.a.example")
    make_sso_domain(org, "a.example")
    with as_org(session, org.id):
        _, token = scim.create_token(
            session, actor=actor_of(org_admin), name="IdP A", connection_id=connection.id
        )
    session.commit()
    return org, connection, _scim_client(client, token)


def _scim_user(email: str) -> dict:
    return {
        "schemas": [scim.USER_SCHEMA],
        "userName": email,
        "emails": [{"value": email, "primary": True, "type": "work"}],
        "displayName": "Some One",
        "active": True,
    }


# --- 1. SCIM of A re-addresses its account into another organization's verified domain --


def test_scim_cannot_readdress_an_account_into_another_orgs_verified_domain(
    scim_a, session, make_org, make_sso_domain, make_oidc_connection
):
    """README: "A verified domain belongs to one organization. Only it creates accounts for
    its addresses or signs them in through its IdP." A's IdP may rename its own people, but
    never to an address in C's verified domain: otherwise A holds (and its IdP signs into)
    the account that C's IdP later takes over by email for C's own person."""
    org_a, _, api = scim_a
    org_c = make_org(name="Charlie")
    make_sso_domain(org_c, "c.example")
    connection_c = make_oidc_connection(
        org_c, issuer="https://idp.c.example", jit_provisioning=True
    )
    session.commit()
    created = api("POST", "/Users", json=_scim_user("mallory@a.example"))
    assert created.status_code == 201
    ident = created.get_json()["id"]
    renamed = api("PUT", f"/Users/{ident}", json=_scim_user("ceo@c.example"))
    assert renamed.status_code in (400, 409), renamed.get_json()
    account = session.scalar(select(User).where(User.email == "ceo@c.example"))
    assert account is None
    # (had it passed: C's IdP signs its CEO into the account A's SCIM created and A's IdP
    # is linked to — provisioning takes an existing account of C's domain by email)
    with as_org(session, org_c.id):
        ceo = provisioning.provision(
            session,
            connection=connection_c,
            issuer="https://idp.c.example",
            subject="ceo-sub",
            email="ceo@c.example",
            name="CEO",
            groups=[],
            ip=None,
        )
    orgs = {
        m.org_id
        for m in session.scalars(
            select(Membership).where(Membership.user_id == ceo.id).execution_options(**ALL)
        )
    }
    assert orgs == {org_c.id}


def test_scim_cannot_readdress_an_account_outside_its_verified_domains(scim_a, session):
    """Only the organization that verified a domain creates accounts for its addresses; a
    SCIM rename of A's person to a private address would create an account for an
    address A does not own (that account's real owner could then neither create nor
    cleanly own it)."""
    _, _, api = scim_a
    created = api("POST", "/Users", json=_scim_user("eve@a.example"))
    ident = created.get_json()["id"]
    renamed = api("PUT", f"/Users/{ident}", json=_scim_user("victim@gmail.example"))
    assert renamed.status_code in (400, 409), renamed.get_json()
    assert session.scalar(select(User).where(User.email == "victim@gmail.example")) is None


# --- 2. a break-glass flag outlives the org-admin role --------------------------------------


def test_a_demoted_break_glass_admin_loses_password_access_to_an_sso_required_org(
    session, make_org, make_member, actor_of
):
    """README: where SSO is required "only a break-glass admin's password-and-code session
    may work there". Once the person is no longer an org admin (members page, API or the
    IdP's groups), their password-and-code session must not work there any more."""
    org = make_org(name="Requires SSO")
    keeper = make_member(org, roles=("org_admin",))
    glass = make_member(org, roles=("org_admin",))
    person = _user(session, glass)
    person.totp_secret_encrypted = encrypt("JBSWY3DPEHPK3PXP")
    person.totp_enabled_at = utcnow()
    session.flush()
    with as_org(session, org.id):
        memberships.set_break_glass(
            session, actor=actor_of(keeper), membership=glass, break_glass=True
        )
        # a second break-glass admin stays, so SSO-required keeps its way in
        keeper_user = _user(session, keeper)
        keeper_user.totp_secret_encrypted = encrypt("JBSWY3DPEHPK3PXP")
        keeper_user.totp_enabled_at = utcnow()
        memberships.set_break_glass(
            session, actor=actor_of(keeper), membership=keeper, break_glass=True
        )
        org.sso_required = True
        session.flush()
        memberships.change_roles(
            session, actor=actor_of(keeper), membership=glass, roles=["finance"], via="sso"
        )
    session.commit()
    open_orgs = identity.organizations_open_to(session, user_id=person.id, method="password_totp")
    assert org.id not in [o.id for o in open_orgs]


# --- 3. a half-finished sign-in in the cookie works more than once --------------------------


def test_a_held_sign_in_cannot_be_replayed_once_it_was_used(app, session, make_org, make_member):
    """The organization choice after a password sign-in is one step of one sign-in: a copy
    of that cookie must not start further sessions after the person finished (and signed
    out) — "sign-out takes effect even for a copied cookie"."""
    first, second = make_org(name="Aardvark"), make_org(name="Zebra")
    person = _user(session, make_member(first, roles=("finance",)))
    make_member(second, roles=("finance",), user=person)
    session.commit()
    client = app.test_client()
    asked = client.post("/login", data={"email": person.email, "password": PASSWORD, "action": "x"})
    assert asked.status_code == 200 and "Where do you want to work?" in asked.data.decode()
    with client.session_transaction() as cookie:
        copied = dict(cookie)
    assert client.post("/login/organization", data={"org_id": second.id}).status_code == 302
    client.post("/logout")
    before = session.scalar(
        select(SignInSession.id)
        .where(SignInSession.user_id == person.id)
        .order_by(SignInSession.id.desc())
    )
    thief = app.test_client()
    with thief.session_transaction() as cookie:
        cookie.update(copied)
    thief.post("/login/organization", data={"org_id": first.id})
    assert thief.get("/api/v1/me").status_code == 401
    after = session.scalar(
        select(SignInSession.id)
        .where(SignInSession.user_id == person.id)
        .order_by(SignInSession.id.desc())
    )
    assert after == before


def test_a_held_sign_in_dies_with_a_password_reset(app, session, make_org, make_member):
    """A password set through a reset link "ends every session of the account": a
    half-finished sign-in made with the old password must not finish afterwards."""
    from fms.identity import accounts, links
    from fms.identity.models import PasswordLink

    first, second = make_org(name="Aardvark"), make_org(name="Zebra")
    person = _user(session, make_member(first, roles=("finance",)))
    make_member(second, roles=("finance",), user=person)
    session.commit()
    attacker = app.test_client()
    asked = attacker.post(
        "/login", data={"email": person.email, "password": PASSWORD, "action": "x"}
    )
    assert asked.status_code == 200
    # the owner notices and resets the password
    secret, secret_hash = links.new_secret()
    link = PasswordLink(
        user_id=person.id,
        secret_hash=secret_hash,
        expires_at=utcnow() + accounts.PASSWORD_LINK_VALIDITY,
    )
    session.add(link)
    session.flush()
    with app.test_request_context():
        token = links.token_for("password", link.id, secret)
        accounts.set_password_with_link(session, token=token, password="a-brand-new-password-1")
    session.commit()
    attacker.post("/login/organization", data={"org_id": first.id})
    assert attacker.get("/api/v1/me").status_code == 401


# --- 4. SCIM of B learns when the person signed in elsewhere ------------------------------


def test_scim_does_not_reveal_sign_ins_into_other_organizations(
    scim_a, session, make_org, make_member, sign_in, app
):
    """README: members see "a membership's own last sign-in (into that organization), never
    the account's activity elsewhere". The SCIM view of A's member must not move when the
    person signs in to another organization."""
    org_a, _, api = scim_a
    created = api("POST", "/Users", json=_scim_user("shared@a.example"))
    ident = created.get_json()["id"]
    first = created.get_json()["meta"]["lastModified"]
    person = session.scalar(select(User).where(User.email == "shared@a.example"))
    elsewhere = make_org(name="Elsewhere")
    make_member(elsewhere, roles=("finance",), user=person)
    session.commit()
    sign_in(app.test_client(), person, elsewhere)
    later = api("GET", f"/Users/{ident}").get_json()["meta"]["lastModified"]
    assert later == first


# --- 5. hostile SCIM input answers 4xx, never 500 -------------------------------------------


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/Users", {"userName": "x@a.example", "emails": [{"value": 5, "primary": True}]}),
        ("POST", "/Users", {"userName": "y@a.example", "name": {"givenName": 5}}),
        ("POST", "/Users", {"userName": "z@a.example", "externalId": {"x": 1}}),
        ("POST", "/Users/.search", {"startIndex": [1]}),
        ("POST", "/Users/.search", {"filter": 5}),
        ("POST", "/Users/.search", {"attributes": 5}),
        ("POST", "/Groups", {"displayName": "G", "externalId": ["x"]}),
    ],
)
def test_hostile_scim_values_answer_4xx_not_500(scim_a, method, path, body):
    _, _, api = scim_a
    response = api(method, path, json=body)
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])


def test_hostile_scim_patch_path_answers_4xx_not_500(scim_a):
    _, _, api = scim_a
    created = api("POST", "/Users", json=_scim_user("p@a.example"))
    ident = created.get_json()["id"]
    response = api(
        "PATCH",
        f"/Users/{ident}",
        json={"schemas": [], "Operations": [{"op": "replace", "path": 5, "value": "x"}]},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])


# --- 6. the sign-in page tells anyone which addresses have a freelancer account -------------


def test_sign_in_page_does_not_reveal_a_freelancer_account_and_its_organization(
    app, session, make_org, make_member, make_oidc_connection
):
    """An anonymous visitor must not learn from the sign-in page whether an address outside
    every verified domain has an FMS account, nor which organization it works with: the
    answer for a freelancer's address and for an unknown one should be the same."""
    from fms.identity.sso.models import ExternalIdentity

    org = make_org(name="Secret Client GmbH")
    connection = make_oidc_connection(
        org, issuer="https://guests.example", audience="freelancers", name="Secret Client login"
    )
    person = _user(session, make_member(org, roles=("freelancer",)))
    with as_org(session, org.id):
        session.add(
            ExternalIdentity(
                org_id=org.id,
                connection_id=connection.id,
                user_id=person.id,
                issuer="https://guests.example",
                subject="frank",
                email=person.email,
            )
        )
        session.flush()
    session.commit()
    client = app.test_client()
    known = client.post("/login", data={"email": person.email, "password": "", "action": "sso"})
    unknown = client.post(
        "/login", data={"email": "nobody@freelance.example", "password": "", "action": "sso"}
    )
    assert "Secret Client" not in known.data.decode()
    assert known.status_code == unknown.status_code

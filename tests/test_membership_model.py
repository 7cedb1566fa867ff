"""One membership model: consent before membership, no organization sets or learns another
organization's password, roles follow the IdP, one last-admin rule, SSO policy per session.

Each test is a finding of the identity review (issue 7), written from the rule, not from
the code: it failed on the code before the membership service.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from fms.identity import memberships
from fms.identity import services as identity
from fms.identity.models import Membership, SignInSession, User
from fms.identity.sso import SsoSignInFailed, provisioning
from fms.identity.sso.models import Invitation
from fms.notifications.models import OutboxMessage
from fms.tenancy import ALL_TENANTS
from tests.factories import PASSWORD, as_org

ALL = {ALL_TENANTS: True}


def _link_in_outbox(session, to: str, path: str) -> str:
    """The link FMS mailed to an address (the outbox row holds the message)."""
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == to).order_by(OutboxMessage.id)
    ).all()[-1]
    match = re.search(r"https?://[^\s]+(" + re.escape(path) + r"[^\s]+)", message.body_text)
    assert match, message.body_text
    return match.group(1)


def _memberships_of(session, email: str) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email)
            .execution_options(**ALL)
        )
    )


def join_with_new_account(session, app, link: str, email: str, name: str, password: str):
    """What an invited person without an account does: name themselves on the invitation
    link, then choose a password through the link mailed to their address (organization-less
    mail: no outbox page shows it)."""
    page = app.test_client().post(link + "/new-account", data={"name": name}, follow_redirects=True)
    assert page.status_code == 200 and "We mailed a link" in page.data.decode(), page.data[-500:]
    message = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == email, OutboxMessage.kind == "new_account")
        .order_by(OutboxMessage.id)
    ).all()[-1]
    assert message.org_id is None
    path = re.search(r"(/password/reset/\S+)", message.body_text).group(1)
    return app.test_client().post(path, data={"password": password, "confirm": password})


def _user(session, membership) -> User:
    return session.get(User, membership.user_id)


def _password_sign_in(client, email: str, password: str):
    return client.post("/login", data={"email": email, "password": password, "action": "x"})


@pytest.fixture
def two_orgs(make_org, make_member, sign_in, app, session):
    """Organizations A (Northbridge) and B (another tenant), each with its admin's client."""
    org_a = make_org(name="Northbridge")
    org_b = make_org(name="Brightside")
    admin_a = make_member(org_a, roles=("org_admin",))
    admin_b = make_member(org_b, roles=("org_admin",))
    client_a, client_b = app.test_client(), app.test_client()
    sign_in(client_a, _user(session, admin_a), org_a)
    sign_in(client_b, _user(session, admin_b), org_b)
    return org_a, org_b, client_a, client_b


# --- 1. no organization sets or learns a password for an account it does not own ---------


def test_an_admin_cannot_give_a_new_member_a_password(two_orgs, session):
    _, _, _, client_b = two_orgs
    response = client_b.post(
        "/api/v1/memberships",
        json={
            "email": "new.hire@northbridge.example",
            "roles": ["finance"],
            "password": "chosen-by-org-b-123",
        },
    )
    assert response.status_code == 422
    assert session.scalar(select(User).where(User.email == "new.hire@northbridge.example")) is None


def test_b_chosen_password_never_signs_anyone_into_a(two_orgs, session, app):
    org_a, org_b, client_a, client_b = two_orgs
    email = "new.hire@northbridge.example"
    # B invites first (through the page form, which has no password field any more) ...
    page = client_b.post_form(
        "/admin/members",
        data={"email": email, "roles": ["finance"], "password": "chosen-by-org-b-123"},
    )
    assert page.status_code == 302
    assert "Invitation mailed" in client_b.get(page.headers["Location"]).data.decode()
    # ... nothing exists yet: no account, no membership, no password
    assert session.scalar(select(User).where(User.email == email)) is None
    # A invites too, then the person accepts A's invitation with their own password
    created = client_a.post("/api/v1/memberships", json={"email": email, "roles": ["finance"]})
    assert created.status_code == 201
    link = _link_in_outbox(session, email, "/invitations/")
    response = join_with_new_account(session, app, link, email, "New Hire", "my-own-password-42")
    assert response.status_code == 302
    # B's chosen password opens nothing; the person's own does, in A
    assert _password_sign_in(app.test_client(), email, "chosen-by-org-b-123").status_code == 401
    own = app.test_client()
    assert _password_sign_in(own, email, "my-own-password-42").status_code == 302
    me = own.get("/api/v1/me").get_json()
    assert me["organization"]["id"] == org_a.id
    assert [m.org_id for m in _memberships_of(session, email)] == [org_a.id]


def test_only_the_verified_domain_owner_creates_accounts_for_it(
    two_orgs, session, app, make_sso_domain
):
    org_a, org_b, _, client_b = two_orgs
    make_sso_domain(org_a, "northbridge.example")
    session.commit()
    email = "cfo@northbridge.example"
    assert (
        client_b.post(
            "/api/v1/memberships", json={"email": email, "roles": ["finance"]}
        ).status_code
        == 201
    )
    link = _link_in_outbox(session, email, "/invitations/")
    response = app.test_client().post(link + "/new-account", data={"name": "X"})
    assert response.status_code == 422
    assert "come from that company" in response.data.decode()
    assert session.scalar(select(User).where(User.email == email)) is None


# --- 2. no silent enrolment of another organization's people ------------------------------


def test_inviting_an_existing_account_changes_nothing_until_its_owner_accepts(
    two_orgs, session, make_member, app
):
    org_a, org_b, _, client_b = two_orgs
    person = _user(session, make_member(org_a, roles=("finance",)))
    person.last_sign_in_at = person.created_at
    session.commit()
    before = (person.name, person.password_hash)
    response = client_b.post(
        "/api/v1/memberships", json={"email": person.email, "roles": ["procurement"]}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= {"email", "roles", "status", "link"} and "user" not in body
    session.refresh(person)
    assert (person.name, person.password_hash) == before
    assert [m.org_id for m in _memberships_of(session, person.email)] == [org_a.id]
    # B learns nothing about the account: not listed, not readable by id
    listing = client_b.get("/api/v1/memberships").get_json()
    assert person.email not in str(listing)
    assert client_b.get(f"/api/v1/users/{person.id}").status_code == 404
    pending = client_b.get("/api/v1/memberships/invitations").get_json()
    assert pending == [
        {k: pending[0][k] for k in ("id", "email", "roles", "status", "created_at", "expires_at")}
    ]
    assert pending[0]["email"] == person.email
    # a password sign-in still lands in A, and nothing is logged in B's audit
    client = app.test_client()
    assert _password_sign_in(client, person.email, PASSWORD).status_code == 302
    assert client.get("/api/v1/me").get_json()["organization"]["id"] == org_a.id
    # the owner accepts by signing in as the account: only now B has a member
    link = _link_in_outbox(session, person.email, "/invitations/")
    assert client.post(link + "/accept").status_code == 302
    assert sorted(m.org_id for m in _memberships_of(session, person.email)) == sorted(
        [org_a.id, org_b.id]
    )


def test_someone_else_cannot_accept_an_invitation(two_orgs, session, make_member, app, sign_in):
    org_a, org_b, _, client_b = two_orgs
    person = _user(session, make_member(org_a, roles=("finance",)))
    intruder = _user(session, make_member(org_a, roles=("finance",)))
    session.commit()
    client_b.post("/api/v1/memberships", json={"email": person.email, "roles": ["finance"]})
    link = _link_in_outbox(session, person.email, "/invitations/")
    client = app.test_client()
    sign_in(client, intruder, org_a)
    response = client.post(link + "/accept")
    assert response.status_code == 403
    assert [m.org_id for m in _memberships_of(session, intruder.email)] == [org_a.id]
    # and the new-account path refuses an address that already has an account
    other = app.test_client().post(link + "/new-account", data={"name": "X"})
    assert other.status_code == 302 and "/login" in other.headers["Location"]
    session.refresh(person)
    assert (
        person.password_hash
        and session.scalar(select(Invitation.redeemed_at).where(Invitation.email == person.email))
        is None
    )


def test_password_sign_in_lands_where_the_person_last_worked_or_asks(
    make_org, make_member, session, app
):
    # names chosen so that sorting by name would pick the wrong one
    first_by_name = make_org(name="Aardvark Holdings")
    last_used = make_org(name="Zebra Corp")
    person = _user(session, make_member(first_by_name, roles=("finance",)))
    make_member(last_used, roles=("finance",), user=person)
    session.commit()
    client = app.test_client()
    asked = _password_sign_in(client, person.email, PASSWORD)
    assert asked.status_code == 200 and "Where do you want to work?" in asked.data.decode()
    assert (
        session.scalar(select(SignInSession.id).where(SignInSession.user_id == person.id)) is None
    )
    chosen = client.post("/login/organization", data={"org_id": last_used.id})
    assert chosen.status_code == 302
    assert client.get("/api/v1/me").get_json()["organization"]["id"] == last_used.id
    again = app.test_client()
    assert _password_sign_in(again, person.email, PASSWORD).status_code == 302
    assert again.get("/api/v1/me").get_json()["organization"]["id"] == last_used.id
    # the organization of the first, sorted, never heard of these sign-ins
    from fms.audit.models import AuditEntry

    logged = session.scalars(
        select(AuditEntry.org_id)
        .where(AuditEntry.action == "user.signed_in")
        .execution_options(**ALL)
    ).all()
    assert first_by_name.id not in logged


def test_members_see_a_membership_s_own_last_sign_in_not_the_account_s(
    two_orgs, session, make_member, sign_in, app
):
    org_a, org_b, client_a, _ = two_orgs
    person = _user(session, make_member(org_a, roles=("finance",)))
    make_member(org_b, roles=("finance",), user=person)
    session.commit()
    sign_in(app.test_client(), person, org_b)  # works in B today
    member = next(m for m in _memberships_of(session, person.email) if m.org_id == org_a.id)
    body = client_a.get(f"/api/v1/memberships/{member.id}").get_json()
    assert body["last_sign_in_at"] is None
    assert "last_sign_in_at" not in body["user"]


def test_an_inactive_membership_elsewhere_does_not_block_the_domain_owner_s_idp(
    make_org, make_member, make_oidc_connection, make_sso_domain, session
):
    org_a, org_b = make_org(name="Acme"), make_org(name="Other")
    person = _user(session, make_member(org_b, roles=("finance",), is_active=False))
    person.email = "dana@acme.example"
    make_sso_domain(org_a, "acme.example")
    connection = make_oidc_connection(org_a, issuer="https://idp.acme.example")
    session.commit()
    user = provisioning.provision(
        session,
        connection=connection,
        issuer=connection.issuer,
        subject="dana",
        email="dana@acme.example",
        name="Dana",
        groups=[],
        ip=None,
    )
    assert user.id == person.id
    assert {m.org_id: m.is_active for m in _memberships_of(session, person.email)} == {
        org_a.id: True,
        org_b.id: False,
    }


# --- 3. roles follow the identity provider -----------------------------------------------


@pytest.fixture
def mapped_org(make_org, make_member, make_oidc_connection, make_sso_domain, session):
    org = make_org(name="Mapped")
    make_member(org, roles=("org_admin",))
    make_sso_domain(org, "mapped.example")
    connection = make_oidc_connection(
        org,
        issuer="https://idp.mapped.example",
        group_roles={"fms-buyers": ["procurement"], "fms-finance": ["finance"]},
        default_roles=["hiring_manager"],
    )
    session.commit()
    return org, connection


def _sso(session, connection, groups, subject="sam"):
    return provisioning.provision(
        session,
        connection=connection,
        issuer=connection.issuer,
        subject=subject,
        email=f"{subject}@mapped.example",
        name=subject,
        groups=groups,
        ip=None,
    )


def _roles(session, org, user):
    with as_org(session, org.id):
        return session.scalar(select(Membership.roles).where(Membership.user_id == user.id))


def test_roles_drop_to_the_defaults_when_groups_stop_mapping(mapped_org, session):
    org, connection = mapped_org
    user = _sso(session, connection, ["fms-buyers", "fms-finance"])
    assert _roles(session, org, user) == ["finance", "procurement"]
    _sso(session, connection, ["fms-finance"])
    assert _roles(session, org, user) == ["finance"]
    _sso(session, connection, ["unrelated"])
    assert _roles(session, org, user) == ["hiring_manager"]


def test_a_connection_can_refuse_people_whose_groups_map_to_nothing(mapped_org, session):
    org, connection = mapped_org
    user = _sso(session, connection, ["fms-buyers"])
    connection.refuse_unmapped = True
    session.commit()
    with pytest.raises(SsoSignInFailed) as refused:
        _sso(session, connection, [])
    assert refused.value.reason == "no_mapped_group"
    session.rollback()
    assert _roles(session, org, user) == ["procurement"]


def test_roles_managed_by_fms_stay_as_the_admin_set_them(mapped_org, session, make_member):
    org, connection = mapped_org
    connection.roles_managed_by = "fms"
    session.commit()
    user = _sso(session, connection, ["fms-buyers"])
    assert _roles(session, org, user) == ["hiring_manager"]  # created with the defaults
    with as_org(session, org.id):
        membership = session.scalar(select(Membership).where(Membership.user_id == user.id))
        membership.roles = ["compliance"]
    session.commit()
    _sso(session, connection, ["fms-finance"])
    assert _roles(session, org, user) == ["compliance"]


def test_the_idp_cannot_remove_the_last_org_admin(mapped_org, session):
    org, connection = mapped_org
    connection.group_roles = {**connection.group_roles, "fms-admins": ["org_admin"]}
    session.commit()
    user = _sso(session, connection, ["fms-admins"])
    with as_org(session, org.id):
        for m in session.scalars(select(Membership).where(Membership.user_id != user.id)):
            m.is_active = False
    session.commit()
    with pytest.raises(SsoSignInFailed) as refused:
        _sso(session, connection, ["fms-finance"])
    assert refused.value.reason == "last_admin"
    session.rollback()
    assert _roles(session, org, user) == ["org_admin"]


# --- 4. the last-admin rule and concurrent adds ------------------------------------------


def test_the_last_admin_rule_holds_on_every_path(org_admin, actor_of, session):
    session.commit()
    actor = actor_of(org_admin, user_id=None)  # an operator, so "not yourself" does not apply
    for change in (
        lambda: memberships.change_member_roles(
            session, actor=actor, membership_id=org_admin.id, roles=["finance"]
        ),
        lambda: memberships.set_active(
            session, actor=actor, membership=org_admin, active=False, via="scim"
        ),
        lambda: memberships.set_member_active(
            session, actor=actor, membership_id=org_admin.id, active=False
        ),
    ):
        with as_org(session, org_admin.org_id), pytest.raises(memberships.LastAdmin):
            change()
        session.rollback()
        session.refresh(org_admin)
        assert org_admin.is_active and "org_admin" in org_admin.roles


def test_adding_the_same_member_twice_answers_409(org_admin, actor_of, make_user, session):
    user = make_user()
    actor = actor_of(org_admin)
    memberships.create_membership(
        session, actor=actor, org_id=org_admin.org_id, user_id=user.id, roles=["finance"], via="t"
    )
    with pytest.raises(memberships.AlreadyMember) as second:
        memberships.create_membership(
            session,
            actor=actor,
            org_id=org_admin.org_id,
            user_id=user.id,
            roles=["finance"],
            via="t",
        )
    assert second.value.status == 409


# --- 5. SSO-required holds for sessions from another organization's IdP ------------------


def test_an_sso_session_of_another_org_cannot_switch_into_an_sso_required_org(
    make_org, make_member, make_oidc_connection, session, app
):
    org_a = make_org(name="Requires SSO", sso_required=True)
    org_b = make_org(name="Other IdP")
    person = _user(session, make_member(org_b, roles=("finance",)))
    make_member(org_a, roles=("finance",), user=person)
    own = make_oidc_connection(org_a, issuer="https://idp.a.example")
    foreign = make_oidc_connection(org_b, issuer="https://idp.b.example")
    session.commit()
    started = identity.start_session(
        session,
        user=person,
        method="oidc",
        ip=None,
        user_agent=None,
        org_id=org_b.id,
        sso_connection_id=foreign.id,
    )
    session.commit()
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["sid"] = started.token
    response = client.post("/switch-organization", data={"org_id": org_a.id})
    assert response.status_code == 302
    assert client.get("/api/v1/me").get_json()["organization"]["id"] == org_b.id
    # a session that sits in A by other means is not an A session either
    started.record.current_org_id = org_a.id
    session.commit()
    assert client.get("/api/v1/me").status_code == 401
    # through A's own IdP it works
    mine = identity.start_session(
        session,
        user=person,
        method="oidc",
        ip=None,
        user_agent=None,
        org_id=org_a.id,
        sso_connection_id=own.id,
    )
    assert mine.record.current_org_id == org_a.id


def test_two_connections_map_the_same_group_to_different_roles(
    mapped_org, session, make_oidc_connection
):
    org, buyers_idp = mapped_org
    contractors_idp = make_oidc_connection(
        org,
        issuer="https://contractors.mapped.example",
        group_roles={"fms-buyers": ["compliance"]},
    )
    session.commit()
    via_buyers = _sso(session, buyers_idp, ["fms-buyers"], subject="bea")
    via_contractors = _sso(session, contractors_idp, ["fms-buyers"], subject="cal")
    assert _roles(session, org, via_buyers) == ["procurement"]
    assert _roles(session, org, via_contractors) == ["compliance"]


def test_the_inviter_holding_the_link_cannot_choose_the_password(two_orgs, session, app):
    """The inviter can copy the invitation link; creating the account still needs the link
    mailed to the address itself, which no organization's outbox page shows."""
    _, org_b, _, client_b = two_orgs
    email = "someone@elsewhere.example"
    link = client_b.post(
        "/api/v1/memberships", json={"email": email, "roles": ["finance"]}
    ).get_json()["link"]
    path = "/invitations/" + link.rsplit("/invitations/", 1)[1]
    inviter = app.test_client()
    assert inviter.post(path + "/new-account", data={"name": "Chosen By B"}).status_code == 302
    assert session.scalar(select(User).where(User.email == email)) is None
    outbox = client_b.get("/outbox").get_data(as_text=True)
    assert "Choose your FMS password" not in outbox  # B's outbox page does not show it
    response = join_with_new_account(session, app, path, email, "Real Person", "mine-mine-mine-1")
    assert response.status_code == 302
    assert session.scalar(select(User.name).where(User.email == email)) == "Real Person"


def test_a_bad_invitation_link_does_not_sign_a_visitor_out(client, session, org_admin, sign_in):
    user = _user(session, org_admin)
    sign_in(client, user)
    assert client.get("/invitations/not-a-real-link").status_code == 403
    assert client.get("/api/v1/me").status_code == 200

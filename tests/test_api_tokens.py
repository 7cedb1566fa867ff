"""API tokens: bearer authentication on /api/v1, scopes, principals, revocation, audit."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from fms.audit.models import AuditEntry
from fms.identity import memberships
from fms.identity.actor import Actor
from fms.identity.models import Organization, User
from fms.identity.sso.scim import services as scim
from fms.identity.tokens import services as tokens
from fms.identity.tokens.models import ApiToken
from fms.tenancy import ALL_TENANTS
from fms.timekeeping import utcnow
from tests.factories import as_org

ALL = {ALL_TENANTS: True}


@pytest.fixture
def personal_token(session, actor_of):
    """(token row, secret) of a personal token of `membership`, committed."""

    def make(membership, scopes, **kwargs):
        with as_org(session, membership.org_id):
            row, secret = tokens.create_personal_token(
                session, actor=actor_of(membership), name="script", scopes=scopes, **kwargs
            )
        session.commit()
        return row, secret

    return make


@pytest.fixture
def integration(session, actor_of, org_admin):
    """(service account, token row, secret) of an integration of org_admin's organization."""

    def make(scopes, roles=("hiring_manager",), admin=None):
        admin = admin or org_admin
        with as_org(session, admin.org_id):
            account = tokens.create_service_account(
                session, actor=actor_of(admin), name=f"ERP {len(scopes)}", roles=roles
            )
            row, secret = tokens.create_integration_token(
                session,
                actor=actor_of(admin),
                service_account_id=account.id,
                name="prod",
                scopes=scopes,
            )
        session.commit()
        return account, row, secret

    return make


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


# --- the secret --------------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_only_its_hash_is_kept(session, org_admin, personal_token):
    row, secret = personal_token(org_admin, ["workforce:read"])
    assert secret.startswith(f"fms_pt_{row.public_id}_")
    secret_part = secret.removeprefix(f"fms_pt_{row.public_id}_")
    assert len(secret_part) >= 43  # 32 random bytes, base64url
    stored = session.scalar(select(ApiToken).where(ApiToken.id == row.id).execution_options(**ALL))
    assert stored.secret_hash == hashlib.sha256(secret_part.encode()).hexdigest()
    columns = [str(getattr(stored, c.key)) for c in ApiToken.__table__.columns]
    assert not any(secret_part in value for value in columns)
    [entry] = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "api_token.created").execution_options(**ALL)
    ).all()
    assert (
        secret_part not in str(entry.after) and entry.after["prefix"] == f"fms_pt_{row.public_id}"
    )


def test_no_csrf_needed_with_a_token_and_the_session_still_needs_it(
    csrf_on, client, session, org_admin, personal_token, sign_in
):
    _, secret = personal_token(org_admin, ["workforce:write"])
    created = client.post(
        "/api/v1/departments", json={"code": "ENG", "name": "Eng"}, headers=bearer(secret)
    )
    assert created.status_code == 201, created.get_json()
    # the same client signed in by cookie, without the CSRF header: refused as before
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    refused = client.post("/api/v1/departments", json={"code": "OPS", "name": "Ops"})
    assert refused.status_code == 400


def test_a_token_request_ignores_the_session_cookie(
    client, session, org_admin, make_org, make_member, personal_token, sign_in
):
    """The token, not the cookie, says who and where: a broken token is 401 even when the
    browser is signed in."""
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    response = client.get("/api/v1/departments", headers=bearer("fms_pt_000000000000_" + "x" * 43))
    assert response.status_code == 401


# --- no or bad credentials ---------------------------------------------------------------------


def test_missing_and_invalid_tokens_are_401_with_a_bearer_challenge(
    client, org_admin, personal_token
):
    missing = client.get("/api/v1/departments")
    assert missing.status_code == 401
    assert missing.content_type == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].lower().startswith("bearer")
    _, secret = personal_token(org_admin, ["workforce:read"])
    for wrong in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "fms_pt_nope", "garbage", ""):
        response = client.get("/api/v1/departments", headers=bearer(wrong))
        assert response.status_code == 401, wrong
        assert response.content_type == "application/problem+json"
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    # a personal token's prefix with an integration's kind does not pass either
    assert (
        client.get(
            "/api/v1/departments", headers=bearer(secret.replace("fms_pt_", "fms_it_"))
        ).status_code
        == 401
    )


# --- scopes -----------------------------------------------------------------------------------


def test_a_read_token_cannot_write(client, session, org_admin, personal_token):
    _, secret = personal_token(org_admin, ["workforce:read"])
    assert client.get("/api/v1/departments", headers=bearer(secret)).status_code == 200
    refused = client.post(
        "/api/v1/departments", json={"code": "ENG", "name": "Eng"}, headers=bearer(secret)
    )
    assert refused.status_code == 403
    assert refused.content_type == "application/problem+json"
    challenge = refused.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and "workforce:write" in challenge


def test_a_workforce_token_cannot_read_timesheets_or_compliance(client, org_admin, personal_token):
    _, secret = personal_token(org_admin, ["workforce:read", "workforce:write"])
    assert client.get("/api/v1/engagements", headers=bearer(secret)).status_code == 200
    for path in (
        "/api/v1/timesheets",
        "/api/v1/timesheets/review-queue",
        "/api/v1/expenses",
        "/api/v1/compliance/review-queue",
        "/api/v1/compliance/dashboard",
        "/api/v1/audit-entries",
        "/api/v1/memberships",
    ):
        response = client.get(path, headers=bearer(secret))
        assert response.status_code == 403, path


def test_a_token_works_in_its_organization_and_other_ids_are_404(
    client, session, org_admin, make_org, make_member, make_unit, personal_token
):
    mine = make_unit(session.get(Organization, org_admin.org_id), code="MINE")
    other_org = make_org()
    theirs = make_unit(other_org, code="THEIRS")
    # the same person is also an admin of the other organization: the token stays in its own
    make_member(other_org, roles=("org_admin",), user=session.get(User, org_admin.user_id))
    _, secret = personal_token(org_admin, ["workforce:read"])
    session.commit()
    listing = client.get("/api/v1/departments", headers=bearer(secret)).get_json()
    assert [d["code"] for d in listing["items"]] == ["MINE"]
    assert client.get(f"/api/v1/departments/{mine.id}", headers=bearer(secret)).status_code == 200
    assert client.get(f"/api/v1/departments/{theirs.id}", headers=bearer(secret)).status_code == 404


# --- a token stops at once ------------------------------------------------------------------------


def test_a_revoked_token_is_refused_at_once(client, session, org_admin, actor_of, personal_token):
    row, secret = personal_token(org_admin, ["workforce:read"])
    assert client.get("/api/v1/departments", headers=bearer(secret)).status_code == 200
    with as_org(session, org_admin.org_id):
        tokens.revoke_token(session, actor=actor_of(org_admin), token_id=row.id)
    session.commit()
    assert client.get("/api/v1/departments", headers=bearer(secret)).status_code == 401
    actions = session.scalars(select(AuditEntry.action).execution_options(**ALL)).all()
    assert "api_token.revoked" in actions


def test_an_expired_token_is_refused(client, session, org_admin, personal_token):
    row, secret = personal_token(org_admin, ["workforce:read"], expires_in_days=1)
    assert client.get("/api/v1/departments", headers=bearer(secret)).status_code == 200
    stored = session.scalar(select(ApiToken).where(ApiToken.id == row.id).execution_options(**ALL))
    stored.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    response = client.get("/api/v1/departments", headers=bearer(secret))
    assert response.status_code == 401 and "expired" in response.get_json()["detail"]


def test_a_deactivated_user_s_token_is_refused(
    client, session, org_admin, make_member, personal_token
):
    org = session.get(Organization, org_admin.org_id)
    member = make_member(org, roles=("procurement",))
    _, secret = personal_token(member, ["workforce:read"])
    assert client.get("/api/v1/suppliers", headers=bearer(secret)).status_code == 200
    session.get(User, member.user_id).is_active = False
    session.commit()
    assert client.get("/api/v1/suppliers", headers=bearer(secret)).status_code == 401


def test_an_ended_membership_stops_the_token(
    client, session, org_admin, make_member, actor_of, personal_token
):
    org = session.get(Organization, org_admin.org_id)
    member = make_member(org, roles=("procurement",))
    _, secret = personal_token(member, ["workforce:read"])
    with as_org(session, org.id):
        memberships.set_active(
            session, actor=actor_of(org_admin), membership=member, active=False, via="members_page"
        )
    session.commit()
    assert client.get("/api/v1/suppliers", headers=bearer(secret)).status_code == 401


def test_scim_deprovisioning_stops_the_person_s_tokens(
    client, session, org_admin, make_member, actor_of, personal_token
):
    org = session.get(Organization, org_admin.org_id)
    member = make_member(org, roles=("procurement",))
    _, secret = personal_token(member, ["workforce:read"])
    with as_org(session, org.id):
        _, scim_token = scim.create_token(session, actor=actor_of(org_admin), name="IdP")
    session.commit()
    assert client.get("/api/v1/suppliers", headers=bearer(secret)).status_code == 200
    deleted = client.delete(f"/scim/v2/Users/{member.id}", headers=bearer(scim_token))
    assert deleted.status_code == 204
    assert client.get("/api/v1/suppliers", headers=bearer(secret)).status_code == 401


def test_a_personal_token_loses_power_with_its_owner_s_role(
    client, session, org_admin, make_member, actor_of, personal_token
):
    org = session.get(Organization, org_admin.org_id)
    member = make_member(org, roles=("org_admin",))
    _, secret = personal_token(member, ["workforce:write"])
    made = client.post(
        "/api/v1/departments", json={"code": "A", "name": "A"}, headers=bearer(secret)
    )
    assert made.status_code == 201
    with as_org(session, org.id):
        memberships.change_roles(
            session,
            actor=actor_of(org_admin),
            membership=member,
            roles=["hiring_manager"],
            via="members_page",
        )
    session.commit()
    refused = client.post(
        "/api/v1/departments", json={"code": "B", "name": "B"}, headers=bearer(secret)
    )
    assert refused.status_code == 403


# --- integrations -----------------------------------------------------------------------------


def test_an_integration_acts_with_its_roles_and_outlives_its_creator(
    client, session, org_admin, make_member, actor_of, integration
):
    org = session.get(Organization, org_admin.org_id)
    creator = make_member(org, roles=("org_admin",))
    _, _, secret = integration(["workforce:write"], roles=("procurement",), admin=creator)
    with as_org(session, org.id):
        memberships.set_active(
            session, actor=actor_of(org_admin), membership=creator, active=False, via="members_page"
        )
    session.commit()
    listed = client.get("/api/v1/suppliers", headers=bearer(secret))
    assert listed.status_code == 200
    # procurement may not create departments (structure.manage): the role bounds the token
    refused = client.post(
        "/api/v1/departments", json={"code": "X", "name": "X"}, headers=bearer(secret)
    )
    assert refused.status_code == 403


def test_a_deactivated_integration_s_tokens_stop(client, session, org_admin, actor_of, integration):
    account, _, secret = integration(["workforce:read"])
    assert client.get("/api/v1/engagements", headers=bearer(secret)).status_code == 200
    with as_org(session, org_admin.org_id):
        tokens.update_service_account(
            session, actor=actor_of(org_admin), service_account_id=account.id, is_active=False
        )
    session.commit()
    assert client.get("/api/v1/engagements", headers=bearer(secret)).status_code == 401


def test_person_routes_are_closed_to_integrations(client, org_admin, integration):
    _, _, secret = integration(["workforce:read", "admin:read"])
    for path in ("/api/v1/me", "/api/v1/notifications", "/api/v1/my/engagements"):
        assert client.get(path, headers=bearer(secret)).status_code == 403, path


def test_last_use_is_recorded(client, session, org_admin, personal_token):
    row, secret = personal_token(org_admin, ["workforce:read"])
    client.get(
        "/api/v1/departments", headers=bearer(secret), environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
    stored = session.scalar(select(ApiToken).where(ApiToken.id == row.id).execution_options(**ALL))
    session.refresh(stored)
    assert stored.last_used_at is not None and stored.last_used_ip == "198.51.100.7"


def test_a_token_actor_is_scoped(org_admin):
    actor = Actor(user_id=1, org_id=1, scopes=frozenset({"workforce:read"}))
    assert tokens.allows(actor, "workforce", "read") and not tokens.allows(
        actor, "workforce", "write"
    )
    assert tokens.effective_scopes(["timesheets:write"]) == {"timesheets:write", "timesheets:read"}


def test_a_personal_token_is_its_person_in_its_organization(
    client, session, org_admin, make_org, make_member, personal_token
):
    other = make_org(name="Elsewhere")
    make_member(other, roles=("org_admin",), user=session.get(User, org_admin.user_id))
    _, secret = personal_token(org_admin, ["workforce:read"])
    me = client.get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200
    body = me.get_json()
    assert body["user"]["id"] == org_admin.user_id
    assert body["organization"]["id"] == org_admin.org_id
    assert len(body["organizations"]) == 2

"""Token pages: org admins' integrations, and every person's own tokens."""

from __future__ import annotations

import re

import pytest

from fms.identity.models import Organization, User
from fms.identity.tokens import services as tokens
from tests.factories import as_org

SECRET = re.compile(r'id="new-api-token">(fms_(?:it|pt)_[^<]+)<')


@pytest.fixture
def admin_client(client, session, org_admin, sign_in):
    sign_in(
        client, session.get(User, org_admin.user_id), session.get(Organization, org_admin.org_id)
    )
    return client


def test_an_admin_adds_an_integration_and_sees_its_secret_once(admin_client):
    page = admin_client.get("/admin/integrations")
    assert page.status_code == 200 and "No integrations yet" in page.get_data(as_text=True)
    added = admin_client.post_form(
        "/admin/integrations", data={"name": "Workday", "roles": ["hiring_manager"]}
    )
    assert added.status_code == 302
    url = added.headers["Location"]
    assert "No tokens yet" in admin_client.get(url).get_data(as_text=True)
    created = admin_client.post_form(
        url,
        data={
            "action": "token",
            "token-name": "sync",
            "token-scopes": ["workforce:read"],
            "token-expires_in_days": "30",
        },
    )
    assert created.status_code == 302
    shown = admin_client.get(url).get_data(as_text=True)
    [secret] = SECRET.findall(shown)
    assert secret.startswith("fms_it_")
    again = admin_client.get(url).get_data(as_text=True)
    assert secret not in again and secret.split("_")[2] in again  # the prefix stays visible
    assert (
        admin_client.get(
            "/api/v1/engagements", headers={"Authorization": f"Bearer {secret}"}
        ).status_code
        == 200
    )
    listing = admin_client.get("/admin/integrations").get_data(as_text=True)
    assert "Workday" in listing and "Hiring manager" in listing


def test_forms_show_inline_errors_and_change_nothing(admin_client, session, org_admin):
    page = admin_client.post_form("/admin/integrations", data={"name": "", "roles": []})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "Choose at least one role." in html
    with as_org(session, org_admin.org_id):
        from fms.identity.actor import Actor

        actor = Actor(
            user_id=org_admin.user_id, org_id=org_admin.org_id, roles=frozenset(org_admin.roles)
        )
        assert tokens.list_service_accounts(session, actor=actor) == []
    page = admin_client.post_form("/account/tokens", data={"name": "x", "expires_in_days": "30"})
    assert page.status_code == 422 and "Choose at least one scope." in page.get_data(as_text=True)


def test_revoking_on_the_page_stops_the_token(admin_client, session, org_admin, actor_of):
    with as_org(session, org_admin.org_id):
        account = tokens.create_service_account(
            session, actor=actor_of(org_admin), name="BI", roles=["finance"]
        )
        row, secret = tokens.create_integration_token(
            session,
            actor=actor_of(org_admin),
            service_account_id=account.id,
            name="t",
            scopes=["workforce:read"],
        )
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    assert admin_client.get("/api/v1/suppliers", headers=headers).status_code == 200
    page = admin_client.get(f"/admin/integrations/{account.id}").get_data(as_text=True)
    assert "Never" in page or "Last used" in page
    token = re.search(r'name="csrf_token" value="([^"]*)"', page)
    revoked = admin_client.post(
        f"/admin/integrations/{account.id}/tokens/{row.id}/revoke",
        data={"csrf_token": token.group(1) if token else ""},
    )
    assert revoked.status_code == 302
    assert admin_client.get("/api/v1/suppliers", headers=headers).status_code == 401
    assert "Revoked" in admin_client.get(f"/admin/integrations/{account.id}").get_data(as_text=True)


def test_integrations_are_for_org_admins_and_other_orgs_are_404(
    client, session, org_admin, make_member, make_org, sign_in, actor_of
):
    org = session.get(Organization, org_admin.org_id)
    finance = make_member(org, roles=("finance",))
    other = make_org()
    with as_org(session, other.id):
        theirs = tokens.create_service_account(
            session,
            actor=actor_of(make_member(other, roles=("org_admin",))),
            name="T",
            roles=["finance"],
        )
    session.commit()
    sign_in(client, session.get(User, finance.user_id), org)
    assert client.get("/admin/integrations").status_code == 403
    sign_in(client, session.get(User, org_admin.user_id), org)
    assert client.get(f"/admin/integrations/{theirs.id}").status_code == 404


def test_every_person_manages_their_own_tokens(client, session, org_admin, make_member, sign_in):
    org = session.get(Organization, org_admin.org_id)
    freelancer = make_member(org, roles=("freelancer",))
    session.commit()
    sign_in(client, session.get(User, freelancer.user_id), org)
    assert "Manage personal tokens" in client.get("/account/security").get_data(as_text=True)
    page = client.get("/account/tokens")
    assert page.status_code == 200 and "No tokens yet" in page.get_data(as_text=True)
    created = client.post_form(
        "/account/tokens",
        data={"name": "my script", "scopes": ["workforce:read"], "expires_in_days": "0"},
    )
    assert created.status_code == 302
    [secret] = SECRET.findall(client.get("/account/tokens").get_data(as_text=True))
    assert secret.startswith("fms_pt_")
    assert secret not in client.get("/account/tokens").get_data(as_text=True)
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/my/engagements", headers=headers).status_code == 200
    # a freelancer's token is bounded by the freelancer role: no staff lists
    assert client.get("/api/v1/suppliers", headers=headers).status_code == 403


def test_each_revoke_address_revokes_its_own_kind_only(admin_client, session, org_admin, actor_of):
    with as_org(session, org_admin.org_id):
        account = tokens.create_service_account(
            session, actor=actor_of(org_admin), name="HR", roles=["finance"]
        )
        other = tokens.create_service_account(
            session, actor=actor_of(org_admin), name="BI", roles=["finance"]
        )
        row, _ = tokens.create_integration_token(
            session,
            actor=actor_of(org_admin),
            service_account_id=account.id,
            name="t",
            scopes=["workforce:read"],
        )
    session.commit()
    assert admin_client.post(f"/account/tokens/{row.id}/revoke").status_code == 404
    assert (
        admin_client.post(f"/admin/integrations/{other.id}/tokens/{row.id}/revoke").status_code
        == 404
    )
    session.refresh(row)
    assert row.revoked_at is None


def test_the_audit_log_says_what_happened_to_tokens(admin_client, session, org_admin, actor_of):
    with as_org(session, org_admin.org_id):
        account = tokens.create_service_account(
            session, actor=actor_of(org_admin), name="Audit me", roles=["finance"]
        )
        row, _ = tokens.create_integration_token(
            session,
            actor=actor_of(org_admin),
            service_account_id=account.id,
            name="t",
            scopes=["workforce:read"],
        )
        tokens.revoke_token(session, actor=actor_of(org_admin), token_id=row.id)
    session.commit()
    html = admin_client.get("/admin/audit").get_data(as_text=True)
    for words in ("Integration added", "API token created", "API token revoked"):
        assert words in html, words
    assert f"/admin/integrations/{account.id}" in html

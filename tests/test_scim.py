"""SCIM 2.0 provisioning: scim2-tester against the endpoint, and Entra ID / Okta payloads."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fms.audit.models import AuditEntry
from fms.identity.models import Membership, Organization, SignInSession, User
from fms.identity.sso.models import ScimToken
from fms.identity.sso.scim import services as scim
from fms.tenancy import ALL_TENANTS
from tests.factories import as_org

BASE = "http://127.0.0.1:5000/scim/v2"
ALL = {ALL_TENANTS: True}


@pytest.fixture
def scim_org(
    session, org_admin, actor_of, sso_allowed_loopback, make_sso_domain, make_oidc_connection
):
    org = session.get(Organization, org_admin.org_id)
    # the token provisions for the staff connection whose groups map to roles
    connection = make_oidc_connection(
        org,
        issuer="https://login.contoso.example",
        group_roles={"FMS Finance": ["finance"], "FMS Buyers": ["procurement"]},
        default_roles=["hiring_manager"],
    )
    # the IdP provisions its own company's people: addresses in domains the org verified
    for domain in ("contoso.example", "okta.local", "page.example"):
        make_sso_domain(org, domain)
    with as_org(session, org.id):
        record, token = scim.create_token(
            session, actor=actor_of(org_admin), name="Entra ID", connection_id=connection.id
        )
    session.commit()
    return org, token, record


@pytest.fixture
def api(client, scim_org):
    org, token, _ = scim_org
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def call(method, path, json=None, **extra):
        return client.open(
            f"/scim/v2{path}", method=method, json=json, headers={**headers, **extra}
        )

    return call


def _membership(session, membership_id) -> Membership:
    assert str(membership_id).isdigit(), f"{membership_id} is not a member (yet)"
    return session.scalar(
        select(Membership).where(Membership.id == int(membership_id)).execution_options(**ALL)
    )


def test_scim2_tester_reports_no_failures(app, session, scim_org):
    from scim2_client.engines.wsgi import WSGISCIMClient
    from scim2_tester import Status, check_server

    org, token, _ = scim_org
    client = WSGISCIMClient(app, base_url=BASE, headers={"Authorization": f"Bearer {token}"})
    results = check_server(client)
    failures = [
        f"{r.title}: {r.reason}"
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    assert results and not failures, "\n".join(failures)


def test_token_is_stored_hashed_and_revocation_is_immediate(
    session, api, scim_org, actor_of, org_admin
):
    org, token, record = scim_org
    stored = session.scalars(select(ScimToken).execution_options(**ALL)).all()
    assert [t.token_hash for t in stored] != [token] and token not in str(
        [(t.token_hash, t.prefix) for t in stored]
    )
    assert api("GET", "/Users").status_code == 200
    with as_org(session, org.id):
        scim.revoke_token(session, actor=actor_of(org_admin), token_id=record.id)
    session.commit()
    response = api("GET", "/Users")
    assert response.status_code == 401
    assert response.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_no_or_wrong_token_is_refused(client, scim_org):
    assert client.get("/scim/v2/Users").status_code == 401
    bad = client.get("/scim/v2/Users", headers={"Authorization": "Bearer fms_scim_nope"})
    assert bad.status_code == 401


def test_service_provider_config_declares_patch_filter_and_etag(api):
    body = api("GET", "/ServiceProviderConfig").json
    assert body["patch"]["supported"] and body["filter"]["supported"]
    assert body["etag"]["supported"] and not body["bulk"]["supported"]


# Entra ID's documented requests (learn.microsoft.com, "Tutorial: Develop and plan
# provisioning for a SCIM endpoint", request/response examples).
ENTRA_CREATE = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.example",
    "active": True,
    "emails": [
        {
            "primary": True,
            "type": "work",
            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@contoso.example",
        }
    ],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}


def test_entra_id_user_lifecycle(session, api, scim_org, sign_in, app):
    org, _, _ = scim_org
    # Entra first looks the user up by userName, then creates it
    lookup = api("GET", '/Users?filter=userName eq "' + ENTRA_CREATE["userName"] + '"')
    assert lookup.status_code == 200 and lookup.json["totalResults"] == 0
    created = api("POST", "/Users", ENTRA_CREATE)
    assert created.status_code == 201, created.json
    user_id = created.json["id"]
    assert created.headers["Location"].endswith(f"/Users/{user_id}")
    assert created.headers["ETag"] == created.json["meta"]["version"]
    assert created.json["externalId"] == ENTRA_CREATE["externalId"]
    assert api("POST", "/Users", ENTRA_CREATE).json["scimType"] == "uniqueness"
    found = api("GET", '/Users?filter=externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')
    assert [r["id"] for r in found.json["Resources"]] == [user_id]
    # Entra's PATCH: capitalised ops, "False" as a string, a filtered email path
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@contoso.example",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ],
    }
    response = api("PATCH", f"/Users/{user_id}", patch)
    assert response.status_code == 200, response.json
    assert response.json["name"]["familyName"] == "updatedFamilyName"
    user = session.scalar(select(User).where(User.email == "updatedemail@contoso.example"))
    assert user is not None
    # the person is signed in; Entra disables them: their session here ends at once
    membership = _membership(session, user_id)
    web = app.test_client()
    sign_in(web, user, org)
    assert web.get("/").status_code == 200
    disable = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    response = api("PATCH", f"/Users/{user_id}", disable)
    assert response.status_code == 200 and response.json["active"] is False
    session.refresh(membership)
    assert membership.is_active is False
    assert web.get("/").status_code == 302
    live = session.scalars(
        select(SignInSession).where(
            SignInSession.user_id == user.id, SignInSession.ended_at.is_(None)
        )
    ).all()
    assert live == []
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.org_id == org.id).execution_options(**ALL)
    ).all()
    assert "membership.deactivated" in actions
    # DELETE: gone for SCIM, the account and the audit trail stay
    assert api("DELETE", f"/Users/{user_id}").status_code == 204
    assert api("GET", f"/Users/{user_id}").status_code == 404


def test_entra_id_group_membership_maps_to_roles(session, api, scim_org):
    user_id = api("POST", "/Users", ENTRA_CREATE).json["id"]
    group = api(
        "POST",
        "/Groups",
        {
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "FMS Finance",
            "meta": {"resourceType": "Group"},
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        },
    )
    assert group.status_code == 201, group.json
    group_id = group.json["id"]
    add = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": user_id}]}
        ],
    }
    assert api("PATCH", f"/Groups/{group_id}", add).status_code == 200
    assert _membership(session, user_id).roles == ["finance"]
    remove = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user_id}]}
        ],
    }
    response = api("PATCH", f"/Groups/{group_id}", remove)
    assert response.status_code == 200 and response.json["members"] == []
    listed = api("GET", '/Groups?excludedAttributes=members&filter=displayName eq "FMS Finance"')
    assert listed.json["totalResults"] == 1 and "members" not in listed.json["Resources"][0]
    # leaving the last mapped group: the organization's default roles, not the old ones
    assert _membership(session, user_id).roles == ["hiring_manager"]


# Okta's documented requests (developer.okta.com, "SCIM 2.0 protocol reference").
OKTA_CREATE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}


def test_okta_user_lifecycle_with_put_and_etags(session, api, scim_org):
    lookup = api("GET", '/Users?filter=userName eq "test.user@okta.local"&startIndex=1&count=100')
    assert lookup.json["totalResults"] == 0
    created = api("POST", "/Users", OKTA_CREATE)
    assert created.status_code == 201, created.json
    user_id, etag = created.json["id"], created.headers["ETag"]
    assert api("GET", f"/Users/{user_id}", **{"If-None-Match": etag}).status_code == 304
    # Okta replaces the whole user to change a profile field
    replaced = dict(created.json, name={"givenName": "Another", "familyName": "User"})
    response = api("PUT", f"/Users/{user_id}", replaced, **{"If-Match": etag})
    assert response.status_code == 200 and response.json["name"]["givenName"] == "Another"
    stale = api("PUT", f"/Users/{user_id}", replaced, **{"If-Match": etag})
    assert stale.status_code == 412
    # Okta deactivates with PATCH, no path, an object value
    deactivate = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    response = api("PATCH", f"/Users/{user_id}", deactivate)
    assert response.status_code == 200 and response.json["active"] is False
    # Okta group push: create, then rename and change members in one PATCH
    group = api(
        "POST",
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Test SCIMv2",
            "members": [],
        },
    )
    group_id = group.json["id"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "value": {"id": group_id, "displayName": "FMS Buyers"}},
            {
                "op": "add",
                "path": "members",
                "value": [{"value": user_id, "display": "test.user@okta.local"}],
            },
        ],
    }
    response = api("PATCH", f"/Groups/{group_id}", patch)
    assert response.status_code == 200, response.json
    assert response.json["displayName"] == "FMS Buyers"
    assert _membership(session, user_id).roles == ["procurement"]
    remove = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": f'members[value eq "{user_id}"]'}],
    }
    assert api("PATCH", f"/Groups/{group_id}", remove).json["members"] == []
    assert api("DELETE", f"/Groups/{group_id}").status_code == 204


def test_pagination_and_unsupported_filters(api):
    for n in range(3):
        api(
            "POST",
            "/Users",
            {"userName": f"p{n}@page.example", "emails": [{"value": f"p{n}@page.example"}]},
        )
    page = api("GET", "/Users?startIndex=2&count=1").json
    assert page["startIndex"] == 2 and page["itemsPerPage"] == 1 and page["totalResults"] >= 3
    bad = api("GET", '/Users?filter=name.givenName co "x"')
    assert bad.status_code == 400 and bad.json["scimType"] == "invalidFilter"


def test_another_organizations_users_are_not_found(session, api, make_org, make_member):
    other = make_org()
    stranger = make_member(other, roles=("finance",))
    session.commit()
    assert api("GET", f"/Users/{stranger.id}").status_code == 404
    assert (
        api(
            "PATCH",
            f"/Users/{stranger.id}",
            {"Operations": [{"op": "replace", "path": "active", "value": False}]},
        ).status_code
        == 404
    )
    assert _membership(session, stranger.id).is_active is True


def _add_to_group(api, group_id, user_id):
    return api(
        "PATCH",
        f"/Groups/{group_id}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Add", "path": "members", "value": [{"value": user_id}]}],
        },
    )


def test_an_address_outside_the_verified_domains_is_invited_not_attached(
    session, api, scim_org, app
):
    """SCIM POST for someone else's address makes a pending invitation: no account, no
    membership until its owner accepts; then the groups it was given apply."""
    import re

    from fms.notifications.models import OutboxMessage

    org, _, _ = scim_org
    created = api(
        "POST",
        "/Users",
        {
            "schemas": [scim.USER_SCHEMA],
            "userName": "guest@partner.example",
            "emails": [{"value": "guest@partner.example", "primary": True}],
            "displayName": "Guest Consultant",
            "active": True,
        },
    )
    assert created.status_code == 201, created.json
    user_id = created.json["id"]
    assert user_id.startswith("inv-") and created.json["active"] is True
    assert session.scalar(select(User).where(User.email == "guest@partner.example")) is None
    assert api("GET", f"/Users/{user_id}").json["userName"] == "guest@partner.example"
    listed = api("GET", '/Users?filter=userName eq "guest@partner.example"').json
    assert listed["totalResults"] == 1 and listed["Resources"][0]["id"] == user_id
    group_id = api(
        "POST", "/Groups", {"schemas": [scim.GROUP_SCHEMA], "displayName": "FMS Buyers"}
    ).json["id"]
    assert _add_to_group(api, group_id, user_id).status_code == 200
    assert api("GET", f"/Groups/{group_id}").json["members"][0]["value"] == user_id
    # the person accepts with their own password
    message = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.recipient == "guest@partner.example", OutboxMessage.kind == "invitation"
        )
    ).one()
    link = re.search(r"(/invitations/\S+)", message.body_text).group(1)
    from tests.test_membership_model import join_with_new_account

    accepted = join_with_new_account(
        session, app, link, "guest@partner.example", "Gina Guest", "gina-chose-this-1"
    )
    assert accepted.status_code == 302
    member = api("GET", f"/Users/{user_id}").json
    assert member["id"] == user_id and member["active"] is True
    with as_org(session, org.id):
        membership = session.scalar(
            select(Membership).join(User).where(User.email == "guest@partner.example")
        )
    assert membership.roles == ["procurement"]
    assert api("GET", f"/Groups/{group_id}").json["members"][0]["value"] == user_id
    # and the IdP's id keeps working for deprovisioning
    assert api("DELETE", f"/Users/{user_id}").status_code == 204
    session.refresh(membership)
    assert membership.is_active is False


def test_scim_cannot_deactivate_the_last_org_admin(session, api, scim_org, org_admin):
    response = api(
        "PATCH",
        f"/Users/{org_admin.id}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": False}],
        },
    )
    assert response.status_code == 409, response.json
    assert "org admin" in response.json["detail"]
    session.refresh(org_admin)
    assert org_admin.is_active is True


def test_a_token_of_a_connection_whose_roles_fms_manages_leaves_roles_alone(
    session, client, scim_org, org_admin, actor_of, make_oidc_connection
):
    org, _, _ = scim_org
    connection = make_oidc_connection(org, issuer="https://idp.contoso.example")
    connection.roles_managed_by = "fms"
    with as_org(session, org.id):
        _, token = scim.create_token(
            session, actor=actor_of(org_admin), name="Google", connection_id=connection.id
        )
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    user_id = client.post("/scim/v2/Users", json=ENTRA_CREATE, headers=headers).json["id"]
    group_id = client.post(
        "/scim/v2/Groups",
        json={"schemas": [scim.GROUP_SCHEMA], "displayName": "FMS Finance"},
        headers=headers,
    ).json["id"]
    add = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": user_id}]}],
    }
    assert client.patch(f"/scim/v2/Groups/{group_id}", json=add, headers=headers).status_code == 200
    assert _membership(session, user_id).roles == ["hiring_manager"]


def test_a_token_cannot_follow_another_organizations_connection(
    session, scim_org, org_admin, actor_of, make_org, make_oidc_connection
):
    other = make_oidc_connection(make_org(), issuer="https://idp.elsewhere.example")
    with as_org(session, org_admin.org_id), pytest.raises(scim.InvalidInput):
        scim.create_token(session, actor=actor_of(org_admin), name="x", connection_id=other.id)


def test_scim_deactivation_revokes_personal_tokens_for_good(app, session, api, scim_org, actor_of):
    """Issue 15: a personal token stops at once when its person is deactivated, and a later
    reactivation (Entra ID re-enabling the user) does not bring it back."""
    from fms.identity.tokens import services as tokens
    from fms.identity.tokens.models import ApiToken

    org, _, _ = scim_org
    person = {**ENTRA_CREATE, "userName": "tokens@contoso.example", "externalId": "tok-1"}
    person["emails"] = [{"primary": True, "type": "work", "value": "tokens@contoso.example"}]
    created = api("POST", "/Users", person)
    assert created.status_code == 201, created.json
    membership = _membership(session, created.json["id"])
    with as_org(session, org.id):
        row, secret = tokens.create_personal_token(
            session, actor=actor_of(membership), name="script", scopes=["workforce:read"]
        )
    session.commit()
    caller = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert caller.get("/api/v1/me", headers=headers).status_code == 200

    def set_active(value):
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": value}],
        }
        response = api("PATCH", f"/Users/{membership.id}", patch)
        assert response.status_code == 200, response.json
        assert response.json["active"] is (value == "True")

    set_active("False")
    assert caller.get("/api/v1/me", headers=headers).status_code == 401
    set_active("True")
    session.refresh(membership)
    assert membership.is_active is True
    # back in the organization, but the token stays revoked: they make a new one
    assert caller.get("/api/v1/me", headers=headers).status_code == 401
    stored = session.scalar(select(ApiToken).where(ApiToken.id == row.id).execution_options(**ALL))
    assert stored.revoked_at is not None
    [entry] = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "api_token.revoked", AuditEntry.entity_id == row.id)
        .execution_options(**ALL)
    ).all()
    assert entry.channel == "scim" and entry.after == {
        "reason": "membership deactivated",
        "via": "scim",
    }

"""ETag / If-Match on the org structure (departments, cost centres, locations), the
compliance tenure rules, the organization, its memberships and SSO connections: records two
admins or officers may edit at the same time.

For each: the read answers an ETag; an update with that ETag succeeds and answers the new
one; an update with a stale ETag is a 412 problem and changes nothing; another
organization's record is a 404 whatever the tag; without If-Match the update is accepted as
before (the last write wins)."""

from __future__ import annotations

import pytest

from fms.compliance.models import TenureRule
from fms.tenancy import scope_session
from fms.workforce.models import CostCentre, Department, Location
from tests.factories import as_org
from tests.test_api_etag import _tag
from tests.test_api_idempotency import _problem

STALE = '"0123456789abcdef0123456789abcdef"'


@pytest.fixture
def admin(app, session, world, make_member, actor_of, sign_in):
    """A client signed in as an org admin of the world's organization."""
    from fms.identity.models import User

    actor = actor_of(make_member(world.org, roles=("org_admin",)))
    client = app.test_client()
    sign_in(client, session.get(User, actor.user_id), world.org)
    return client


@pytest.fixture
def other_org(make_org):
    return make_org()


def _stored(session, world, model, row_id, field):
    session.expire_all()
    scope_session(session, world.org.id)
    return getattr(session.get(model, row_id), field)


def _edited_by_two(client, session, world, url, model, field, first, second):
    """Two people read the record; the first saves; the second, with the tag they read
    before that save, is refused and the first one's value stays."""
    read = _tag(client.get(url))
    assert _tag(client.get(url)) == read  # stable while nothing changes
    saved = client.open(url, method=first[0], json=first[1], headers={"If-Match": read})
    new = _tag(saved)
    assert new != read
    assert saved.get_json()[field] == first[1][field]
    assert _tag(client.get(url)) == new

    late = client.open(url, method=second[0], json=second[1], headers={"If-Match": read})
    body = _problem(late, 412)
    assert body["status"] == 412
    assert _stored(session, world, model, saved.get_json()["id"], field) == first[1][field]
    assert _tag(client.get(url)) == new

    # the ETag of the current version, or none at all, is accepted
    fresh = client.open(url, method=second[0], json=second[1], headers={"If-Match": new})
    assert fresh.status_code == 200 and fresh.get_json()[field] == second[1][field]
    blind = client.open(url, method=first[0], json=first[1])
    assert blind.status_code == 200, blind.get_json()
    assert _stored(session, world, model, saved.get_json()["id"], field) == first[1][field]


def _theirs_stays_a_404(client, session, org, url, change, stored):
    """Another organization's record: a 404 to read and to change, whatever the If-Match
    (a 412 would tell that the id exists), and it keeps its value."""
    method, body = change
    _problem(client.get(url), 404)
    for tag in (STALE, "*"):
        _problem(client.open(url, method=method, json=body, headers={"If-Match": tag}), 404)
    session.expire_all()
    scope_session(session, org.id)
    model, row_id, field, kept = stored
    assert getattr(session.get(model, row_id), field) == kept


# --- departments, cost centres, locations -----------------------------------------------------

UNITS = [
    ("/api/v1/departments", Department, {"code": "ENG", "name": "Engineering"}),
    ("/api/v1/cost-centres", CostCentre, {"code": "CC-100", "name": "Platform"}),
    ("/api/v1/locations", Location, {"code": "BER", "name": "Berlin", "country": "DE"}),
]


@pytest.mark.parametrize(
    ("path", "model", "body"), UNITS, ids=["department", "cost_centre", "location"]
)
def test_a_structure_unit_is_edited_with_its_etag(admin, session, world, path, model, body):
    made = admin.post(path, json=body)
    assert made.status_code == 201, made.get_json()
    url = f"{path}/{made.get_json()['id']}"
    _edited_by_two(
        admin,
        session,
        world,
        url,
        model,
        "name",
        ("PATCH", {"name": "Renamed by the first admin"}),
        ("PATCH", {"name": "Renamed by the second admin"}),
    )


@pytest.mark.parametrize(
    ("path", "model", "body"), UNITS, ids=["department", "cost_centre", "location"]
)
def test_archiving_with_a_stale_etag_leaves_the_unit_offered(
    admin, session, world, path, model, body
):
    made = admin.post(path, json=body).get_json()
    url = f"{path}/{made['id']}"
    read = _tag(admin.get(url))
    assert admin.patch(url, json={"code": "NEW"}, headers={"If-Match": read}).status_code == 200
    _problem(admin.patch(url, json={"is_active": False}, headers={"If-Match": read}), 412)
    assert _stored(session, world, model, made["id"], "is_active") is True
    assert _stored(session, world, model, made["id"], "code") == "NEW"


@pytest.mark.parametrize(
    ("path", "model", "body"), UNITS, ids=["department", "cost_centre", "location"]
)
def test_another_organizations_unit_is_a_404_not_a_412(
    admin, session, world, other_org, path, model, body
):
    with as_org(session, other_org.id):
        theirs = model(org_id=other_org.id, **body)
        session.add(theirs)
        session.commit()  # the requests' rollbacks must not take it away
    _theirs_stays_a_404(
        admin,
        session,
        other_org,
        f"{path}/{theirs.id}",
        ("PATCH", {"name": "Taken over"}),
        (model, theirs.id, "name", body["name"]),
    )


def test_a_reader_with_a_stale_tag_is_refused_as_a_reader(
    app, session, world, make_member, actor_of, sign_in, admin
):
    """A hiring manager may read the structure but not change it: 403, told nothing about
    versions."""
    from fms.identity.models import User

    made = admin.post("/api/v1/departments", json={"code": "OPS", "name": "Operations"})
    url = f"/api/v1/departments/{made.get_json()['id']}"
    reader = app.test_client()
    sign_in(reader, session.get(User, world.manager.user_id), world.org)
    assert reader.get(url).status_code == 200
    _problem(reader.patch(url, json={"name": "x"}, headers={"If-Match": STALE}), 403)


# --- compliance tenure rules ------------------------------------------------------------------


def test_a_tenure_rule_is_edited_with_its_etag(admin, session, world):
    made = admin.post("/api/v1/compliance/tenure-rules", json={"country": "DE", "max_months": 18})
    assert made.status_code == 201, made.get_json()
    url = f"/api/v1/compliance/tenure-rules/{made.get_json()['id']}"
    assert admin.get(url).get_json() == {
        "id": made.get_json()["id"],
        "country": "DE",
        "max_months": 18,
        "break_days": 90,
    }
    _edited_by_two(
        admin,
        session,
        world,
        url,
        TenureRule,
        "max_months",
        ("PUT", {"max_months": 24, "break_days": 90}),
        ("PUT", {"max_months": 12, "break_days": 180}),
    )


def test_a_stale_tenure_rule_put_changes_neither_limit_nor_break(admin, session, world):
    made = admin.post("/api/v1/compliance/tenure-rules", json={"max_months": 18}).get_json()
    url = f"/api/v1/compliance/tenure-rules/{made['id']}"
    read = _tag(admin.get(url))
    admin.put(url, json={"max_months": 18, "break_days": 30}, headers={"If-Match": read})
    _problem(
        admin.put(url, json={"max_months": 6, "break_days": 90}, headers={"If-Match": read}), 412
    )
    assert _stored(session, world, TenureRule, made["id"], "max_months") == 18
    assert _stored(session, world, TenureRule, made["id"], "break_days") == 30


def test_another_organizations_tenure_rule_is_a_404_not_a_412(admin, session, other_org):
    with as_org(session, other_org.id):
        theirs = TenureRule(org_id=other_org.id, country="FR", max_months=36, break_days=90)
        session.add(theirs)
        session.commit()  # the requests' rollbacks must not take it away
    _theirs_stays_a_404(
        admin,
        session,
        other_org,
        f"/api/v1/compliance/tenure-rules/{theirs.id}",
        ("PUT", {"max_months": 1}),
        (TenureRule, theirs.id, "max_months", 36),
    )


# --- the organization, its memberships, its SSO connections ----------------------------------


def test_the_organization_is_edited_with_its_etag(admin, session, world):
    from fms.identity.models import Organization

    url = f"/api/v1/organizations/{world.org.id}"
    _edited_by_two(
        admin,
        session,
        world,
        url,
        Organization,
        "name",
        ("PATCH", {"name": "Acme Group"}),
        ("PATCH", {"name": "Acme Holding"}),
    )


def test_an_organization_the_admin_does_not_belong_to_is_a_404(admin, other_org):
    url = f"/api/v1/organizations/{other_org.id}"
    _problem(admin.get(url), 404)
    _problem(admin.patch(url, json={"name": "Taken"}, headers={"If-Match": STALE}), 404)


def test_a_member_who_may_not_change_the_organization_is_refused_as_before(
    app, session, world, sign_in
):
    from fms.identity.models import User

    client = app.test_client()
    sign_in(client, session.get(User, world.manager.user_id), world.org)
    url = f"/api/v1/organizations/{world.org.id}"
    _tag(client.get(url))
    _problem(client.patch(url, json={"name": "x"}, headers={"If-Match": STALE}), 403)


def test_two_admins_changing_a_members_roles_do_not_lose_one_change(
    admin, session, world, make_member
):
    """`roles` replaces the list: each admin adds a role to what they read; the second,
    with the tag of that read, is refused instead of dropping the first one's role."""
    from fms.identity.models import Membership

    member = make_member(world.org, roles=("hiring_manager",))
    session.commit()
    url = f"/api/v1/memberships/{member.id}"
    read = _tag(admin.get(url))
    first = admin.patch(
        url, json={"roles": ["hiring_manager", "finance"]}, headers={"If-Match": read}
    )
    assert sorted(first.get_json()["roles"]) == ["finance", "hiring_manager"]
    assert _tag(first) != read
    second = admin.patch(
        url, json={"roles": ["hiring_manager", "procurement"]}, headers={"If-Match": read}
    )
    _problem(second, 412)
    assert sorted(_stored(session, world, Membership, member.id, "roles")) == [
        "finance",
        "hiring_manager",
    ]
    # read again, the second admin adds their role to both
    again = admin.patch(
        url,
        json={"roles": ["finance", "hiring_manager", "procurement"]},
        headers={"If-Match": _tag(admin.get(url))},
    )
    assert sorted(again.get_json()["roles"]) == ["finance", "hiring_manager", "procurement"]


def test_another_organizations_membership_is_a_404_not_a_412(
    admin, session, other_org, make_member
):
    from fms.identity.models import Membership

    theirs = make_member(other_org, roles=("hiring_manager",))
    session.commit()
    _theirs_stays_a_404(
        admin,
        session,
        other_org,
        f"/api/v1/memberships/{theirs.id}",
        ("PATCH", {"roles": ["org_admin"]}),
        (Membership, theirs.id, "roles", ["hiring_manager"]),
    )


def test_an_sso_connection_is_edited_with_its_etag(
    admin, session, world, make_oidc_connection, sso_allowed_loopback
):
    from fms.identity.sso.models import SsoConnection

    connection = make_oidc_connection(world.org, issuer="http://127.0.0.1:9/idp")
    session.commit()
    _edited_by_two(
        admin,
        session,
        world,
        f"/api/v1/sso/connections/{connection.id}",
        SsoConnection,
        "name",
        ("PATCH", {"name": "Entra ID"}),
        ("PATCH", {"name": "Okta"}),
    )


def test_another_organizations_sso_connection_is_a_404_not_a_412(
    admin, session, other_org, make_oidc_connection
):
    from fms.identity.sso.models import SsoConnection

    theirs = make_oidc_connection(other_org, issuer="http://127.0.0.1:9/idp", name="Theirs")
    session.commit()
    _theirs_stays_a_404(
        admin,
        session,
        other_org,
        f"/api/v1/sso/connections/{theirs.id}",
        ("PATCH", {"name": "Mine"}),
        (SsoConnection, theirs.id, "name", "Theirs"),
    )


# --- the OpenAPI document ---------------------------------------------------------------------

# written out on purpose: the operations this file covers
UPDATES = {
    ("patch", "/api/v1/departments/{department_id}"),
    ("patch", "/api/v1/cost-centres/{cost_centre_id}"),
    ("patch", "/api/v1/locations/{location_id}"),
    ("put", "/api/v1/compliance/tenure-rules/{tenure_rule_id}"),
    ("patch", "/api/v1/organizations/{org_id}"),
    ("patch", "/api/v1/memberships/{membership_id}"),
    ("patch", "/api/v1/sso/connections/{connection_id}"),
}


def test_the_document_declares_etag_and_if_match_on_these_updates(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for method, path in UPDATES:
        operation = spec["paths"][path][method]
        [if_match] = [p for p in operation["parameters"] if p["name"] == "If-Match"]
        assert if_match["in"] == "header" and if_match["required"] is False
        assert "412" in operation["responses"], (method, path)
        assert "ETag" in operation["responses"]["200"]["headers"], (method, path)
        assert "ETag" in spec["paths"][path]["get"]["responses"]["200"]["headers"], path
        # creations take no If-Match
        listing = spec["paths"][path.rsplit("/", 1)[0]]
        if "post" in listing:
            assert "If-Match" not in {p["name"] for p in listing["post"].get("parameters", [])}

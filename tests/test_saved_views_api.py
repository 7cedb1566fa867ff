"""/api/v1/saved-views: the toolbar's saved views through the API — saved with the list's
own checks (a bad filter is a 422 that saves nothing), listed per list with the shared
ones, renamed and deleted by their owner only (another person's or organization's: 404);
a person's own, so integrations get 403."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fms.audit.models import AuditEntry
from fms.identity.models import Organization, User
from fms.saved_views import SavedView

URL = "/api/v1/saved-views"
PROBLEM = "application/problem+json"


@pytest.fixture
def org(session, org_admin):
    return session.get(Organization, org_admin.org_id)


@pytest.fixture
def as_(app, session, sign_in):
    def signed_in(membership, org):
        client = app.test_client()
        sign_in(client, session.get(User, membership.user_id), org)
        return client

    return signed_in


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(SavedView))


def test_a_view_is_saved_listed_renamed_and_deleted_by_its_owner(
    as_, session, org, org_admin, make_member
):
    admin = as_(org_admin, org)
    made = admin.post(
        URL, json={"list_key": "engagements", "query": "state=active&sort=-title", "name": "Active"}
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    view = made.get_json()
    assert view["query"] == "state=active&sort=-title" and view["mine"] and not view["shared"]
    shared = admin.post(URL, json={"list_key": "engagements", "name": "Everyone", "shared": True})
    assert shared.status_code == 201
    listing = admin.get(URL, query_string={"list_key": "engagements"}).get_json()
    assert [v["name"] for v in listing] == ["Active", "Everyone"]
    assert admin.patch(f"{URL}/{view['id']}", json={}).get_json()["name"] == "Active"
    renamed = admin.patch(f"{URL}/{view['id']}", json={"name": "Active ones"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Active ones"

    # a colleague sees the shared view only, and may change neither
    colleague = as_(make_member(org, roles=("procurement",)), org)
    seen = colleague.get(URL, query_string={"list_key": "engagements"}).get_json()
    assert [(v["name"], v["mine"]) for v in seen] == [("Everyone", False)]
    assert colleague.get(f"{URL}/{view['id']}").status_code == 404
    assert colleague.patch(f"{URL}/{view['id']}", json={"name": "Mine"}).status_code == 404
    assert colleague.patch(f"{URL}/{view['id']}", json={}).status_code == 404
    assert colleague.delete(f"{URL}/{view['id']}").status_code == 404
    assert colleague.delete(f"{URL}/{shared.get_json()['id']}").status_code == 404
    assert _count(session) == 2

    assert admin.delete(f"{URL}/{view['id']}").status_code == 204
    assert admin.get(f"{URL}/{view['id']}").status_code == 404
    assert _count(session) == 1
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.entity_id == view["id"], AuditEntry.action.like("saved_view.%"))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["saved_view.created", "saved_view.renamed", "saved_view.deleted"]


@pytest.mark.parametrize(
    "sent, pointer",
    [
        ({"list_key": "engagements", "query": "sort=nope", "name": "x"}, None),
        ({"list_key": "nope", "name": "x"}, "/list_key"),
        ({"list_key": "engagements", "name": "   "}, "/name"),
        ({"list_key": "engagements", "name": "x" * 81}, "/name"),
        ({"list_key": "engagements"}, "/name"),
    ],
)
def test_bad_input_is_a_422_problem_and_saves_nothing(as_, session, org, org_admin, sent, pointer):
    answer = as_(org_admin, org).post(URL, json=sent)
    assert answer.status_code == 422 and answer.mimetype == PROBLEM
    if pointer:
        assert pointer in {e.get("pointer") for e in answer.get_json()["errors"]}
    assert _count(session) == 0


def test_sharing_is_for_staff_and_a_list_needs_its_permission(as_, session, org, make_member):
    manager = as_(make_member(org, roles=("hiring_manager",)), org)
    # hiring managers may not read the members list
    assert manager.get(URL, query_string={"list_key": "members"}).status_code == 403
    freelancer = as_(make_member(org, roles=("freelancer",)), org)
    answer = freelancer.post(URL, json={"list_key": "engagements", "name": "x", "shared": True})
    assert answer.status_code == 403
    assert _count(session) == 0


def test_another_organizations_view_is_404(as_, session, org, org_admin, make_org, make_member):
    other_org = make_org()
    stranger = as_(make_member(other_org, roles=("org_admin",)), other_org)
    view = stranger.post(URL, json={"list_key": "engagements", "name": "Theirs", "shared": True})
    assert view.status_code == 201
    admin = as_(org_admin, org)
    assert admin.get(f"{URL}/{view.get_json()['id']}").status_code == 404
    assert admin.get(URL, query_string={"list_key": "engagements"}).get_json() == []


def test_integrations_have_no_saved_views(app, session, org, org_admin, actor_of):
    from fms.identity.tokens import services as tokens
    from tests.factories import as_org

    admin = actor_of(org_admin)
    with as_org(session, org.id):
        account = tokens.create_service_account(
            session, actor=admin, name="ERP", roles=["org_admin"]
        )
        _, secret = tokens.create_integration_token(
            session, actor=admin, service_account_id=account.id, name="x", scopes=["admin:write"]
        )
    session.commit()
    client = app.test_client()
    answer = client.get(
        URL,
        query_string={"list_key": "engagements"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 403

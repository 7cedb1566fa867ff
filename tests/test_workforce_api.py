"""The workforce API: the same rules as the pages, as JSON."""

import pytest

from fms.identity.models import Organization, User


@pytest.fixture
def org(session, org_admin, approval_chain):
    org = session.get(Organization, org_admin.org_id)
    approval_chain(org)
    return org


def _client(app, session, sign_in, membership, org):
    web = app.test_client()
    sign_in(web, session.get(User, membership.user_id), org)
    return web


def test_requisition_to_engagement_through_the_api(
    app, session, org, make_member, sign_in, org_structure
):
    manager = _client(app, session, sign_in, make_member(org, roles=("hiring_manager",)), org)
    buyer = _client(app, session, sign_in, make_member(org, roles=("procurement",)), org)
    body = {
        "title": "Load forecasting ML engineer",
        "kind": "daily",
        "start_date": "2027-02-01",
        "end_date": "2027-07-31",
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate_min": "650",
        "rate_max": "720.50",
        "budget": "40000",
        "justification": "Forecast accuracy programme",
        "submit": True,
        **org_structure(org),
    }
    created = manager.post("/api/v1/requisitions", json=body)
    assert created.status_code == 201, created.get_json()
    req = created.get_json()
    assert req["state"] == "submitted"
    assert req["rate_max"] == {"amount": "720.50", "currency": "EUR"}
    assert req["budget"] == {"amount": "40000.00", "currency": "EUR"}
    assert [s["role"] for s in req["steps"]] == ["procurement"]
    own = manager.post(f"/api/v1/requisitions/{req['id']}/decision", json={"decision": "approve"})
    assert own.status_code == 403
    decided = buyer.post(f"/api/v1/requisitions/{req['id']}/decision", json={"decision": "approve"})
    assert decided.get_json()["state"] == "approved"
    engagement_id = decided.get_json()["engagement_id"]
    engagement = buyer.get(f"/api/v1/engagements/{engagement_id}").get_json()
    assert engagement["state"] == "approved"
    assert engagement["terms"][0]["rate"] == {"amount": "720.50", "currency": "EUR"}
    again = buyer.post(f"/api/v1/requisitions/{req['id']}/decision", json={"decision": "approve"})
    assert again.status_code == 409 and again.content_type == "application/problem+json"


def test_api_validation_and_unknown_grouping(app, session, org, org_admin, sign_in):
    admin = _client(app, session, sign_in, org_admin, org)
    bad = admin.post("/api/v1/requisitions", json={"title": "", "weekly_minutes": "lots"})
    assert bad.status_code == 422
    pointers = {e["pointer"] for e in bad.get_json()["errors"]}
    assert {"/title", "/weekly_minutes", "/kind", "/budget"} <= pointers
    wrong = admin.get("/api/v1/headcount?group_by=planet")
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["pointer"] == "/group_by"
    assert admin.get("/api/v1/headcount/trend?months=3").status_code == 200


def test_engagement_notice_and_amendment_through_the_api(
    app, session, org, make_member, make_engagement, sign_in
):
    from datetime import date, timedelta

    manager_member = make_member(org, roles=("hiring_manager",))
    today = date.today()  # noqa: DTZ011
    engagement = make_engagement(
        org,
        start=today - timedelta(days=10),
        end=today + timedelta(days=200),
        manager_id=manager_member.user_id,
    )
    manager = _client(app, session, sign_in, manager_member, org)
    buyer = _client(app, session, sign_in, make_member(org, roles=("procurement",)), org)
    proposed = manager.post(
        f"/api/v1/engagements/{engagement.id}/amendments",
        json={
            "kind": "rate_change",
            "effective_from": (today + timedelta(days=30)).isoformat(),
            "new_rate": "99",
            "reason": "Annual review",
        },
    )
    assert proposed.status_code == 201, proposed.get_json()
    decided = buyer.post(
        f"/api/v1/amendments/{proposed.get_json()['id']}/decision", json={"decision": "approve"}
    )
    assert decided.get_json()["state"] == "approved"
    terms = buyer.get(f"/api/v1/engagements/{engagement.id}").get_json()["terms"]
    assert [t["rate"]["amount"] for t in terms] == ["90.00", "99.00"]
    too_soon = manager.post(
        f"/api/v1/engagements/{engagement.id}/notice",
        json={"end_date": today.isoformat(), "reason": "Done"},
    )
    assert too_soon.status_code == 422
    notice = manager.post(
        f"/api/v1/engagements/{engagement.id}/notice",
        json={"end_date": (today + timedelta(days=20)).isoformat(), "reason": "Project done"},
    )
    assert notice.status_code == 200 and notice.get_json()["ended_by"] == "organization"

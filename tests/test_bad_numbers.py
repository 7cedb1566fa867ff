"""Numbers out of range are refused with a clear 4xx, never a 500 or a runaway computation."""

import pytest

from fms.identity.models import Organization, User
from fms.workforce.models import Requisition

BIG = 10**20


@pytest.fixture
def web(app, session, org_admin, approval_chain, sign_in):
    org = session.get(Organization, org_admin.org_id)
    approval_chain(org)
    client = app.test_client()
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


@pytest.mark.parametrize(
    "extra",
    [
        {"budget": "1e30"},
        {"budget": "1e999999999"},
        {"budget": "1e-999999"},
        {"department_id": BIG},
        {"skill_ids": [BIG]},
        {"weekly_minutes": BIG},
        {"rate_max": "1e999999999"},
    ],
)
def test_requisition_numbers(web, session, org_admin, org_structure, extra):
    org = session.get(Organization, org_admin.org_id)
    body = {
        "title": "X",
        "kind": "daily",
        "start_date": "2027-02-01",
        "end_date": "2027-07-31",
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate_min": "650",
        "rate_max": "720.50",
        "budget": "40000",
        "justification": "j",
        **org_structure(org),
        **extra,
    }
    response = web.post("/api/v1/requisitions", json=body)
    assert response.status_code == 422, response.get_json()
    assert session.query(Requisition).count() == 0


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/requisitions/{BIG}",
        f"/api/v1/freelancers/{BIG}",
        f"/api/v1/departments/{BIG}",
        f"/requisitions/{BIG}",
        f"/engagements/{BIG}",
        f"/freelancers/{BIG}",
    ],
)
def test_huge_ids_are_not_found(web, path):
    assert web.get(path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/headcount?cost_centre_id={BIG}",
        f"/api/v1/requisitions?page={BIG}",
        f"/api/v1/freelancers?page={BIG}",
        f"/api/v1/audit-entries?entity_id={BIG}",
    ],
)
def test_huge_query_numbers_are_422(web, path):
    assert web.get(path).status_code == 422


@pytest.mark.parametrize(
    "path, heading",
    [
        (f"/headcount?cost_centre_id={BIG}", "Contingent headcount"),
        (f"/requisitions?page={BIG}", "Requisitions"),
        (f"/engagements?page={BIG}", "Engagements"),
        (f"/freelancers?skill_id={BIG}&min_level={BIG}", "Freelancers"),
        (f"/admin/audit?entity_id={BIG}", "Audit log"),
    ],
)
def test_huge_numbers_in_pages_fall_back_to_defaults(web, path, heading):
    response = web.get(path)
    assert response.status_code == 200
    assert f'<h1 class="fms-page-title">{heading}</h1>' in response.get_data(as_text=True)

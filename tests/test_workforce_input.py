"""Workforce input that must never take an organization down (issue 8)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from fms.identity.models import Organization, User
from fms.tenancy import ALL_TENANTS
from fms.workforce.models import Engagement


@pytest.fixture
def admin_client(client, session, org_admin, sign_in):
    org = session.get(Organization, org_admin.org_id)
    sign_in(client, session.get(User, org_admin.user_id), org)
    return client


@pytest.mark.parametrize(
    "timezone", ["Mars/Olympus_Mons", "../../../../etc/passwd", "", "Europe/Berlin\x00", 5]
)
def test_an_unknown_timezone_is_refused_and_changes_nothing(
    admin_client, session, org_admin, timezone
):
    org = session.get(Organization, org_admin.org_id)
    before = org.timezone
    response = admin_client.patch(f"/api/v1/organizations/{org.id}", json={"timezone": timezone})
    assert response.status_code == 422, response.get_json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    session.refresh(org)
    assert org.timezone == before
    # the organization's pages and API still work
    assert admin_client.get("/").status_code == 200
    assert admin_client.get("/api/v1/me").status_code == 200


def test_a_valid_timezone_is_saved(admin_client, session, org_admin):
    org = session.get(Organization, org_admin.org_id)
    response = admin_client.patch(
        f"/api/v1/organizations/{org.id}", json={"timezone": "America/Sao_Paulo"}
    )
    assert response.status_code == 200 and response.get_json()["timezone"] == "America/Sao_Paulo"


def test_the_sweep_runs_each_organization_on_its_own(app, session, make_org, make_engagement):
    """One organization's bad data fails its own sweep, reported; the others are swept."""
    broken, healthy = make_org(name="Broken"), make_org(name="Healthy")
    ended_soon = make_engagement(healthy, start=date(2020, 1, 1), end=date(2020, 1, 31))
    make_engagement(broken, start=date(2020, 1, 1), end=date(2020, 1, 31))
    broken.timezone = "Mars/Olympus_Mons"  # stored before the timezone check existed
    session.commit()
    result = app.test_cli_runner().invoke(args=["fms", "workforce", "sweep"])
    assert result.exit_code == 1
    assert broken.slug in result.output and "1 engagement(s) ended" in result.output
    states = dict(
        session.execute(
            select(Engagement.org_id, Engagement.state).execution_options(**{ALL_TENANTS: True})
        ).all()
    )
    assert states[healthy.id] == "ended" and states[broken.id] == "active"
    assert ended_soon.id


def test_a_requisition_names_only_its_own_organization_s_skills(
    app, session, org_admin, make_org, make_skill, make_member, sign_in, org_structure
):
    org = session.get(Organization, org_admin.org_id)
    mine = make_skill(org, name="Python")
    theirs = make_skill(make_org(), name="Rust")
    manager = make_member(org, roles=("hiring_manager",))
    units = org_structure(org)
    session.commit()  # refused requests roll back to here
    client = app.test_client()
    sign_in(client, session.get(User, manager.user_id), org)
    body = {
        "title": "Data engineer",
        "kind": "hourly",
        "start_date": "2027-02-01",
        "end_date": "2027-07-31",
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate_min": "80",
        "rate_max": "95",
        "budget": "40000",
        "justification": "Pipeline rebuild",
        **units,
    }
    for bad in ([theirs.id], [mine.id, 2**40], [mine.id, 987654]):
        response = client.post("/api/v1/requisitions", json={**body, "skill_ids": bad})
        assert response.status_code == 422, (bad, response.get_json())
        assert "/skill_ids" in str(response.get_json()["errors"])
    ok = client.post("/api/v1/requisitions", json={**body, "skill_ids": [mine.id]})
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["skill_ids"] == [mine.id]

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

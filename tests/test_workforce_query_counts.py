"""Headcount, its CSV, the engagement list and the requisition queue: the same number of SQL
statements for 10 rows as for 500."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fms.identity.models import Organization, User
from fms.workforce.models import Engagement, EngagementTerms, Freelancer, Requisition
from tests.factories import as_org


def _bulk(session, org, manager_id, structure, n, offset):
    """n freelancers with one engagement each, and n submitted requisitions."""
    with as_org(session, org.id):
        people = [
            Freelancer(
                org_id=org.id,
                legal_name=f"P{offset + i}",
                display_name=f"P{offset + i}",
                email=f"p{offset + i}@example.net",
                country=("DE", "PL", "IN")[i % 3],
                timezone="UTC",
                currency="EUR",
            )
            for i in range(n)
        ]
        session.add_all(people)
        session.flush()
        jobs = [
            Engagement(
                org_id=org.id,
                title=f"E{offset + i}",
                kind="hourly",
                state="active",
                freelancer_id=p.id,
                currency="EUR",
                start_date=date(2026, 1, 1) + timedelta(days=i % 90),
                end_date=date(2026, 12, 31),
            )
            for i, p in enumerate(people)
        ]
        session.add_all(jobs)
        session.flush()
        session.add_all(
            [
                EngagementTerms(
                    org_id=org.id,
                    engagement_id=e.id,
                    effective_from=e.start_date,
                    rate=Decimal(90),
                    budget_cap=Decimal(50000),
                    hiring_manager_user_id=manager_id,
                    weekly_minutes=1200 + (i % 3) * 600,
                    **structure,
                )
                for i, e in enumerate(jobs)
            ]
        )
        session.add_all(
            [
                Requisition(
                    org_id=org.id,
                    title=f"R{offset + i}",
                    kind="hourly",
                    state="draft",
                    requester_user_id=manager_id,
                    start_date=date(2027, 1, 1),
                    end_date=date(2027, 6, 30),
                    weekly_minutes=2400,
                    currency="EUR",
                    rate_min=Decimal(1),
                    rate_max=Decimal(2),
                    budget=Decimal(3),
                    justification="x",
                    **structure,
                )
                for i in range(n)
            ]
        )
        session.flush()
    session.commit()


@pytest.mark.parametrize(
    "path",
    [
        "/headcount?on=2026-06-01&group_by=country",
        "/headcount.csv?on=2026-06-01&group_by=manager",
        "/engagements",
        "/engagements?sort=-rate&per_page=200&state=active",
        "/engagements/export.csv?sort=title",
        "/engagements/export.xlsx",
        "/freelancers?sort=-rating",
        "/freelancers/export.csv",
        "/requisitions?view=all",
        "/requisitions?view=all&sort=budget&per_page=200",
        "/requisitions/export.xlsx?view=all",
        "/api/v1/headcount?on=2026-06-01&group_by=skill",
        "/api/v1/engagements?per_page=200",
        "/api/v1/requisitions?per_page=200",
    ],
)
def test_statements_do_not_grow_with_rows(
    client, session, org_admin, sign_in, org_structure, query_counter, path
):
    org = session.get(Organization, org_admin.org_id)
    structure = org_structure(org)
    user = session.get(User, org_admin.user_id)
    counts = []
    for n, offset in ((10, 0), (490, 10)):  # 10 rows, then 500
        _bulk(session, org, org_admin.user_id, structure, n, offset)
        sign_in(client, user, org)
        with query_counter() as statements:
            response = client.get(path)
            body = response.get_data()  # a streamed export runs while read
        assert response.status_code == 200, body[:300]
        counts.append(len(statements))
    assert counts[0] == counts[1], (
        f"{path}: {counts[0]} statements for 10 rows, {counts[1]} for 500"
    )

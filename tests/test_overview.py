"""My work: the Overview per role, from the providers areas register, in a fixed number of
SQL statements whatever the number of rows."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fms.identity.models import Organization, User
from fms.workforce.models import (
    Engagement,
    EngagementTerms,
    Freelancer,
    OnboardingStep,
    Requisition,
)
from tests.factories import as_org

ROLES = ["org_admin", "procurement", "hiring_manager", "compliance", "finance", "freelancer"]


@pytest.fixture
def world(session, org_admin, make_member, org_structure):
    """An organization with one person per role; `add(n)` adds n rows of every kind."""
    org = session.get(Organization, org_admin.org_id)
    people = {role: make_member(org, roles=(role,)) for role in ROLES}
    structure = org_structure(org)
    freelancer_user = people["freelancer"].user_id
    today = date.today()  # noqa: DTZ011
    with as_org(session, org.id):
        profile = Freelancer(
            org_id=org.id,
            user_id=freelancer_user,
            legal_name="Lena F",
            display_name="Lena F",
            email="lena@example.com",
            country="DE",
            timezone="Europe/Berlin",
            currency="EUR",
        )
        session.add(profile)
        session.flush()

    def add(n):
        with as_org(session, org.id):
            for i in range(n):
                state = ("onboarding", "active", "ended", "pending_approval")[i % 4]
                engagement = Engagement(
                    org_id=org.id,
                    title=f"E{i}",
                    kind="hourly",
                    state=state,
                    freelancer_id=profile.id,
                    currency=("EUR", "USD", "GBP")[i % 3],
                    start_date=today - timedelta(days=30) if state != "onboarding" else today,
                    end_date=today + timedelta(days=10) if state != "ended" else today,
                )
                session.add(engagement)
                session.flush()
                session.add(
                    EngagementTerms(
                        org_id=org.id,
                        engagement_id=engagement.id,
                        effective_from=engagement.start_date,
                        rate=Decimal(90),
                        budget_cap=Decimal(1000),
                        hiring_manager_user_id=people["hiring_manager"].user_id,
                        weekly_minutes=2400,
                        **structure,
                    )
                )
                for position, kind in enumerate(("answer", "sign", "review"), start=1):
                    session.add(
                        OnboardingStep(
                            org_id=org.id,
                            engagement_id=engagement.id,
                            position=position,
                            title=f"Step {position}",
                            kind=kind,
                        )
                    )
                session.add(
                    Requisition(
                        org_id=org.id,
                        title=f"R{i}",
                        state=("draft", "submitted", "rejected", "approved")[i % 4],
                        requester_user_id=people["hiring_manager"].user_id,
                        start_date=today,
                        end_date=today + timedelta(days=90),
                        weekly_minutes=2400,
                        currency="EUR",
                        rate_min=Decimal(80),
                        rate_max=Decimal(90),
                        budget=Decimal(1000),
                        **structure,
                    )
                )
            session.flush()
        session.commit()

    return org, people, add


def _items(client, path="/"):
    import re

    page = client.get(path)
    assert page.status_code == 200
    item = r'data-item="([\w.]+)">\s*(?:<a[^>]*>)?'
    count = r'(?:<dt>.*?</dt><dd>|<span class="ov-count">)(\d+)'
    return dict(re.findall(item + count, page.get_data(as_text=True)))


def test_each_role_sees_its_own_work(client, session, world, sign_in):
    org, people, add = world
    add(8)
    seen = {}
    for role in ROLES:
        sign_in(client, session.get(User, people[role].user_id), org)
        seen[role] = _items(client)
    # onboarding engagements: 2 of 8, with the freelancer's steps open
    assert seen["freelancer"]["workforce.my_onboarding_steps"] == "4"
    assert seen["hiring_manager"]["workforce.my_onboarding"] == "2"
    assert seen["hiring_manager"]["workforce.my_ending"] == "2"
    assert seen["hiring_manager"]["workforce.drafts_to_submit"] == "2"
    assert seen["hiring_manager"]["workforce.my_requisitions.submitted"] == "2"
    assert seen["procurement"]["workforce.engagements_to_approve"] == "2"
    assert seen["procurement"]["workforce.onboarding_stuck"] == "2"
    assert seen["procurement"]["workforce.ending_undecided"] == "2"
    assert seen["finance"]["workforce.exchange_rates_missing"] == "2"  # USD, GBP
    assert seen["compliance"]["workforce.waiting_on_freelancers"] == "2"
    assert seen["org_admin"]["identity.sso_missing"] == "1"
    # nobody sees another role's items
    assert not any(k.startswith("identity.") for k in seen["procurement"])
    assert set(seen["freelancer"]) <= {
        "workforce.my_onboarding_steps",
        "workforce.my_engagements.active",
        "workforce.my_engagements.onboarding",
        "timesheets.missing_last_week",  # their active engagements' last week
    }


def test_items_link_where_the_work_is_done(client, session, world, sign_in):
    org, people, add = world
    add(4)
    sign_in(client, session.get(User, people["hiring_manager"].user_id), org)
    page = client.get("/").get_data(as_text=True)
    assert "/engagements?state=onboarding&amp;manager=me" in page
    mine = client.get("/engagements?state=onboarding&manager=me").get_data(as_text=True)
    assert "1 engagement" in mine


BOOKKEEPING = ("SELECT user_account.", "SELECT organization.")


@pytest.mark.parametrize("role", ROLES)
def test_overview_statements_do_not_grow_with_rows(
    client, session, world, sign_in, query_counter, role
):
    org, people, add = world
    counts = []
    for n in (10, 490):  # 10 rows of each kind, then 500
        add(n)
        sign_in(client, session.get(User, people[role].user_id), org)
        client.get("/")  # warm
        with query_counter() as statements:
            assert client.get("/").status_code == 200
        # loading the signed-in user and organization depends on what the test's session (the
        # app's, in tests) already holds, not on rows: count the Overview's own statements
        counts.append(len([s for s in statements if not s.startswith(BOOKKEEPING)]))
    print(role, counts)
    assert counts[0] == counts[1], counts


def test_providers_register_on_the_app_and_import_no_reports(app):
    from pathlib import Path

    import fms
    from fms.reports.overview import providers

    assert set(providers(app)) == {"workforce", "identity", "timesheets"}
    for area in ("workforce", "identity", "timesheets"):
        source = (Path(fms.__file__).parent / area / "overview.py").read_text()
        assert "fms.reports" not in source

"""Headcount at any date, from effective-dated history, in SQL."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from fms.tenancy import scope_session
from fms.workforce import queries
from fms.workforce.models import Engagement, EngagementTerms
from tests.factories import as_org


@pytest.fixture
def org(make_org, session):
    org = make_org()
    scope_session(session, org.id)
    return org


def count(session, org, on, **kw):
    with as_org(session, org.id):
        return queries.headcount(session, org_id=org.id, on=on, **kw)


def test_engagements_count_between_start_and_end(session, org, make_engagement):
    make_engagement(org, start=date(2026, 3, 1), end=date(2026, 6, 30))
    assert count(session, org, date(2026, 2, 28)).total.people == 0
    assert count(session, org, date(2026, 3, 1)).total.people == 1
    assert count(session, org, date(2026, 6, 30)).total.people == 1
    assert count(session, org, date(2026, 7, 1)).total.people == 0


def test_ended_engagements_still_count_on_the_days_they_were_worked(session, org, make_engagement):
    make_engagement(org, start=date(2025, 1, 1), end=date(2025, 3, 31), state="ended")
    assert count(session, org, date(2025, 2, 15)).total.people == 1
    assert count(session, org, date(2025, 4, 1)).total.people == 0


@pytest.mark.parametrize(
    "state", ["draft", "pending_approval", "approved", "onboarding", "cancelled", "rejected"]
)
def test_engagements_never_worked_do_not_count(session, org, make_engagement, state):
    make_engagement(org, state=state)
    assert count(session, org, date(2026, 6, 1)).total.engagements == 0


def test_extension_and_back_dated_change_update_past_figures(session, org, make_engagement):
    engagement = make_engagement(org, start=date(2026, 1, 1), end=date(2026, 3, 31))
    assert count(session, org, date(2026, 4, 15)).total.people == 0
    engagement.end_date = date(2026, 5, 31)  # an approved extension
    session.flush()
    assert count(session, org, date(2026, 4, 15)).total.people == 1
    # a back-dated correction of the start moves earlier figures too
    session.execute(
        update(Engagement)
        .where(Engagement.id == engagement.id)
        .values(start_date=date(2025, 12, 1))
    )
    session.execute(
        update(EngagementTerms)
        .where(EngagementTerms.engagement_id == engagement.id)
        .values(effective_from=date(2025, 12, 1))
    )
    assert count(session, org, date(2025, 12, 15)).total.people == 1


def test_a_freelancer_with_two_engagements_is_one_person_and_two_engagements(
    session, org, make_engagement, make_freelancer, make_unit
):
    person = make_freelancer(org)
    other_cc = make_unit(org, "cost_centre")
    make_engagement(org, freelancer=person, weekly_minutes=1200)
    make_engagement(org, freelancer=person, weekly_minutes=1800, cost_centre_id=other_cc.id)
    result = count(session, org, date(2026, 6, 1), group_by="cost_centre")
    assert (result.total.people, result.total.engagements) == (1, 2)
    # FTE of a person is capped at 1.0 (3000 of 2400 minutes)
    assert result.total.fte == Decimal("1.00")
    # once per group: two groups of one person each, adding up to more than the total
    assert sorted(g.people for g in result.groups) == [1, 1]
    assert sorted(g.fte for g in result.groups) == [Decimal("0.50"), Decimal("0.75")]


def test_dimensions_come_from_the_terms_in_effect_that_day(
    session, org, make_engagement, make_member
):
    engagement = make_engagement(org, start=date(2026, 1, 1), end=date(2026, 12, 31))
    new_manager = make_member(org, roles=("hiring_manager",))
    first = session.query(EngagementTerms).filter_by(engagement_id=engagement.id).one()
    with as_org(session, org.id):
        session.add(
            EngagementTerms(
                org_id=org.id,
                engagement_id=engagement.id,
                effective_from=date(2026, 7, 1),
                rate=first.rate,
                budget_cap=first.budget_cap,
                hiring_manager_user_id=new_manager.user_id,
                department_id=first.department_id,
                cost_centre_id=first.cost_centre_id,
                location_id=first.location_id,
                weekly_minutes=1200,
            )
        )
        session.flush()
    june = count(session, org, date(2026, 6, 30), group_by="manager")
    july = count(session, org, date(2026, 7, 1), group_by="manager")
    assert [g.key for g in june.groups] == [first.hiring_manager_user_id]
    assert [g.key for g in july.groups] == [new_manager.user_id]
    assert june.total.fte == Decimal("1.00") and july.total.fte == Decimal("0.50")


def test_group_by_supplier_country_skill_and_filters(
    session, org, make_engagement, make_freelancer, make_supplier, make_skill
):
    from fms.workforce.models import FreelancerSkill

    agency = make_supplier(org, name="Hays")
    python = make_skill(org, name="Python")
    sap = make_skill(org, name="SAP")
    a = make_freelancer(org, country="DE")
    b = make_freelancer(org, country="PL")
    with as_org(session, org.id):
        session.add_all(
            [
                FreelancerSkill(org_id=org.id, freelancer_id=a.id, skill_id=python.id, level=4),
                FreelancerSkill(org_id=org.id, freelancer_id=a.id, skill_id=sap.id, level=2),
                FreelancerSkill(org_id=org.id, freelancer_id=b.id, skill_id=python.id, level=3),
            ]
        )
        session.flush()
    make_engagement(org, freelancer=a, supplier_id=agency.id)
    make_engagement(org, freelancer=b)
    on = date(2026, 6, 1)
    by_supplier = {g.label: g.people for g in count(session, org, on, group_by="supplier").groups}
    assert by_supplier == {"Hays": 1, queries.DIRECT: 1}
    by_country = {g.label: g.people for g in count(session, org, on, group_by="country").groups}
    assert by_country == {"DE": 1, "PL": 1}
    by_skill = count(session, org, on, group_by="skill")
    assert {g.label: g.people for g in by_skill.groups} == {"Python": 2, "SAP": 1}
    assert by_skill.total.people == 2
    only_pl = count(session, org, on, filters={"country": "PL"})
    assert only_pl.total.people == 1
    only_sap = count(session, org, on, filters={"skill_id": sap.id})
    assert only_sap.total.people == 1


def test_trend_is_as_of_each_month_end(session, org, make_engagement):
    make_engagement(org, start=date(2026, 1, 15), end=date(2026, 2, 10), state="ended")
    make_engagement(org, start=date(2026, 2, 20), end=date(2026, 4, 30))
    with as_org(session, org.id):
        series = queries.trend(session, org_id=org.id, today=date(2026, 5, 20), months=6)
    assert [p.isoformat() for p, _ in series] == [
        "2025-12-31",
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-20",
    ]
    assert [f.people for _, f in series] == [0, 1, 1, 1, 1, 0]


def test_months_with_no_data_are_zero(session, org):
    with as_org(session, org.id):
        series = queries.trend(session, org_id=org.id, today=date(2026, 5, 20), months=3)
    assert [f.people for _, f in series] == [0, 0, 0]


def test_ending_soon_buckets(session, org, make_engagement):
    today = date(2026, 6, 1)
    for days in (5, 40, 80, 200):
        make_engagement(org, start=date(2026, 1, 1), end=today + timedelta(days=days))
    with as_org(session, org.id):
        buckets, nearest = queries.ending_soon(session, today=today)
    assert buckets == {"30": 1, "60": 2, "90": 3}
    assert [row.end_date for row in nearest] == [today + timedelta(days=d) for d in (5, 40, 80)]


def test_other_organizations_never_count(session, org, make_org, make_engagement):
    other = make_org()
    make_engagement(other)
    assert count(session, org, date(2026, 6, 1)).total.people == 0


# --- "ending soon" honours the page's filters ---------------------------------------------


@pytest.fixture
def two_of_everything(
    session,
    org,
    make_engagement,
    make_freelancer,
    make_unit,
    make_supplier,
    make_skill,
    make_member,
):
    """Two engagements ending soon that differ in every filter the headcount page offers."""
    from fms.workforce.models import FreelancerSkill

    today = date(2026, 6, 1)
    made = {}
    for name, country in (("near", "PL"), ("far", "DE")):
        person = make_freelancer(org, country=country)
        skill = make_skill(org)
        with as_org(session, org.id):
            session.add(
                FreelancerSkill(org_id=org.id, freelancer_id=person.id, skill_id=skill.id, level=3)
            )
            session.flush()
        values = {
            "department_id": make_unit(org, "department").id,
            "cost_centre_id": make_unit(org, "cost_centre").id,
            "location_id": make_unit(org, "location").id,
            "supplier_id": make_supplier(org).id,
            "manager_user_id": make_member(org, roles=("hiring_manager",)).user_id,
            "skill_id": skill.id,
            "country": country,
            "kind": "hourly" if name == "near" else "daily",
        }
        engagement = make_engagement(
            org,
            freelancer=person,
            start=date(2026, 1, 1),
            end=today + timedelta(days=10 if name == "near" else 50),
            manager_id=values["manager_user_id"],
            supplier_id=values["supplier_id"],
            department_id=values["department_id"],
            cost_centre_id=values["cost_centre_id"],
            location_id=values["location_id"],
        )
        engagement.kind = values["kind"]
        engagement.title = f"Ending {name}"
        session.flush()
        made[name] = (engagement, values)
    return today, made


@pytest.mark.parametrize(
    "name",
    [
        "department_id",
        "cost_centre_id",
        "location_id",
        "supplier_id",
        "manager_user_id",
        "skill_id",
        "country",
        "kind",
    ],
)
def test_ending_soon_honours_each_filter(session, org, two_of_everything, name):
    today, made = two_of_everything
    with as_org(session, org.id):
        everyone, _ = queries.ending_soon(session, today=today)
        for which in ("near", "far"):
            filters = {name: made[which][1][name]}
            buckets, nearest = queries.ending_soon(session, today=today, filters=filters)
            assert [row.title for row in nearest] == [f"Ending {which}"]
            assert buckets["90"] == 1
            assert buckets["30"] == (1 if which == "near" else 0)
    assert everyone == {"30": 1, "60": 2, "90": 2}


def test_ending_soon_uses_the_dimensions_in_effect_today(session, org, make_engagement, make_unit):
    today = date(2026, 6, 1)
    old, new = make_unit(org, "department"), make_unit(org, "department")
    engagement = make_engagement(
        org, start=date(2026, 1, 1), end=today + timedelta(days=20), department_id=old.id
    )
    first = session.query(EngagementTerms).filter_by(engagement_id=engagement.id).one()
    with as_org(session, org.id):
        session.add(
            EngagementTerms(
                org_id=org.id,
                engagement_id=engagement.id,
                effective_from=date(2026, 5, 1),
                rate=first.rate,
                budget_cap=first.budget_cap,
                hiring_manager_user_id=first.hiring_manager_user_id,
                department_id=new.id,
                cost_centre_id=first.cost_centre_id,
                location_id=first.location_id,
                weekly_minutes=2400,
            )
        )
        session.flush()
        _, in_old = queries.ending_soon(session, today=today, filters={"department_id": old.id})
        _, in_new = queries.ending_soon(session, today=today, filters={"department_id": new.id})
    assert (in_old, [row.id for row in in_new]) == ([], [engagement.id])


def test_headcount_page_ending_soon_panel_follows_the_department_filter(
    client, session, org_admin, sign_in, make_engagement, make_unit
):
    from fms.identity.models import Organization, User

    org = session.get(Organization, org_admin.org_id)
    today = date.today()  # noqa: DTZ011 - a margin of days covers the organization's timezone
    sales, legal = make_unit(org, "department"), make_unit(org, "department")
    for title, unit in (("Sales wind-down", sales), ("Legal wind-down", legal)):
        engagement = make_engagement(
            org,
            start=today - timedelta(days=60),
            end=today + timedelta(days=10),
            department_id=unit.id,
        )
        engagement.title = title
    session.commit()
    sign_in(client, session.get(User, org_admin.user_id), org)
    everyone = client.get("/headcount").get_data(as_text=True)
    assert "Sales wind-down" in everyone and "Legal wind-down" in everyone
    page = client.get(f"/headcount?department_id={sales.id}").get_data(as_text=True)
    assert "Sales wind-down" in page and "Legal wind-down" not in page
    panel = page[page.index("<h2>Ending soon</h2>") :]
    assert '<div class="fms-stat-value">1</div><div class="fms-muted small">within 30' in panel
    assert "matching the filters" in panel and "matching the filters" not in everyone


# --- the trend is one grouped query with the figures of the per-month computation --------


def _reference_month(engagements, terms, people_of, on, standard, keep=lambda e, t: True):
    """Headcount on one day, computed in Python from the rows (independently of SQL)."""
    minutes_by_person: dict = {}
    engagements_by_person: dict = {}
    for e in engagements:
        if e.state not in ("active", "ended") or not (e.start_date <= on <= e.end_date):
            continue
        history = sorted(
            (t for t in terms if t.engagement_id == e.id), key=lambda t: t.effective_from
        )
        current = [t for t in history if t.effective_from <= on]
        if not current:
            continue
        row = current[-1]
        if not keep(e, row):
            continue
        person = people_of[e.id]
        minutes_by_person[person] = minutes_by_person.get(person, 0) + row.weekly_minutes
        engagements_by_person[person] = engagements_by_person.get(person, 0) + 1
    fte = sum(min(m, standard) for m in minutes_by_person.values())
    return (
        len(minutes_by_person),
        sum(engagements_by_person.values()),
        (Decimal(fte) / Decimal(standard)).quantize(Decimal("0.01")),
    )


def test_trend_equals_the_per_month_computation(
    session, org, make_engagement, make_freelancer, make_unit
):
    import random

    rng = random.Random(14)
    people = [make_freelancer(org) for _ in range(6)]
    other_department = make_unit(org, "department")
    for n in range(14):
        start = date(2025, 6, 1) + timedelta(days=rng.randint(0, 300))
        engagement = make_engagement(
            org,
            freelancer=rng.choice(people),
            start=start,
            end=start + timedelta(days=rng.randint(20, 260)),
            state=rng.choice(["active", "active", "ended", "draft"]),
            weekly_minutes=rng.choice([960, 1440, 2400]),
        )
        if n % 3 == 0:  # a later change of terms: hours and department
            first = session.query(EngagementTerms).filter_by(engagement_id=engagement.id).one()
            with as_org(session, org.id):
                session.add(
                    EngagementTerms(
                        org_id=org.id,
                        engagement_id=engagement.id,
                        effective_from=start + timedelta(days=40),
                        rate=first.rate,
                        budget_cap=first.budget_cap,
                        hiring_manager_user_id=first.hiring_manager_user_id,
                        department_id=other_department.id,
                        cost_centre_id=first.cost_centre_id,
                        location_id=first.location_id,
                        weekly_minutes=2400,
                    )
                )
                session.flush()
    today = date(2026, 5, 20)
    with as_org(session, org.id):
        engagements = session.query(Engagement).all()
        terms = session.query(EngagementTerms).all()
        people_of = {e.id: e.freelancer_id for e in engagements}
        series = queries.trend(session, org_id=org.id, today=today, months=12)
        filtered = queries.trend(
            session,
            org_id=org.id,
            today=today,
            months=12,
            filters={"department_id": other_department.id},
        )
    standard = 2400
    expected = [
        _reference_month(engagements, terms, people_of, on, standard)
        for on in queries.month_ends(today, 12)
    ]
    assert [(f.people, f.engagements, f.fte) for _, f in series] == expected
    assert sum(people for people, _, _ in expected) > 0  # the data is not empty
    expected_filtered = [
        _reference_month(
            engagements,
            terms,
            people_of,
            on,
            standard,
            keep=lambda e, t: t.department_id == other_department.id,
        )
        for on in queries.month_ends(today, 12)
    ]
    assert [(f.people, f.engagements, f.fte) for _, f in filtered] == expected_filtered
    # and each point agrees with the one-date headcount (the other figures' query)
    for on, figures in series:
        assert count(session, org, on).total == figures


def test_trend_is_one_query(session, org, make_engagement, query_counter):
    for _ in range(3):
        make_engagement(org)
    with as_org(session, org.id), query_counter() as queries_run:
        queries.trend(session, org_id=org.id, today=date(2026, 5, 20), months=12)
    assert len(queries_run) <= 2  # the standard week, and the trend

"""Spend analytics (fms/reports/spend.py): the figures agree with the invoices and with the
approved items to the cent; expectations are computed by hand from the factory data."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fms.errors import InvalidInput, NotAllowed
from fms.reports import spend
from fms.reports.spend import SpendQuery
from fms.workforce.models import ExchangeRate
from tests.factories import as_org
from tests.factories_invoicing import AFTER_DECEMBER  # noqa: F401
from tests.factories_timesheets import terms_rows

NOV = SpendQuery(start=date(2026, 11, 1), end=date(2026, 12, 31), currency="original")


def report(bill, query, actor=None):
    with as_org(bill.session, bill.org.id):
        return spend.spend_report(bill.session, actor=actor or bill.finance, query=query)


@pytest.fixture
def november(bill):
    """Hand-made figures. Rate 95/h, overtime 120/h beyond 8 h a day:
    Nov 2-4: 480, 510, 7 minutes -> time 480+480+7 = 967 min x 95/60 = 1531.0833 -> 1531.08;
    overtime 30 min x 120/60 = 60.00; milestone 1000.00 (Nov 20); expense 45.30 (Nov 10).
    November is closed and issued: 2636.38. December (not invoiced): Dec 7, 240 min x 95/60
    = 380.00."""
    bill.world.set_terms(rate=Decimal("95"), overtime_rate=Decimal("120"))
    bill.approved_week(date(2026, 11, 2), (480, 510, 7))
    bill.milestone("1000.00", date(2026, 11, 20))
    bill.expense("45.30", date(2026, 11, 10))
    result = bill.close()
    [invoice] = result.invoices
    bill.issue(invoice)
    bill.approved_week(date(2026, 12, 7), (240,))
    return invoice


def test_period_sums_equal_the_invoices_and_the_approved_items(bill, november):
    result = report(bill, NOV)
    by_period = {(r.period, r.currency): r for r in result.rows}
    nov, dec = by_period[("2026-11", "EUR")], by_period[("2026-12", "EUR")]
    assert november.net_total == Decimal("2636.38")
    assert nov.invoiced == Decimal("2636.38") == november.net_total
    assert nov.approved == Decimal("2636.38")
    assert nov.minutes == 997
    assert dec.approved == Decimal("380.00") and dec.invoiced == Decimal("0")
    assert dec.minutes == 240
    total = result.totals["EUR"]
    assert total.approved == Decimal("3016.38") and total.invoiced == Decimal("2636.38")
    assert total.period == "total" and total.keys == ()
    # average rate: approved / hours
    assert dec.average_rate == Decimal("95.00")


def test_base_currency_at_the_rate_of_the_work_date(bill, november, session):
    """Base GBP; EUR at 0.85 from 2026-01-01 and 0.90 from 2026-12-01. November: the time
    group 1591.08 x 0.85 = 1352.418 -> 1352.42, the milestone 850.00, the expense
    45.30 x 0.85 = 38.505 -> 38.51: 2240.93. The invoice's lines: 1531.08 x 0.85 = 1301.418
    -> 1301.42, 60.00 -> 51.00, 850.00, 38.51: 2240.93. December: 380.00 x 0.90 = 342.00."""
    bill.org.base_currency = "GBP"
    with as_org(session, bill.org.id):
        session.add_all(
            [
                ExchangeRate(currency="EUR", rate=Decimal("0.85"), effective_from=date(2026, 1, 1)),
                ExchangeRate(currency="EUR", rate=Decimal("0.9"), effective_from=date(2026, 12, 1)),
            ]
        )
        session.flush()
    result = report(bill, SpendQuery(start=date(2026, 11, 1), end=date(2026, 12, 31)))
    rows = {(r.period, r.currency): r for r in result.rows}
    assert set(rows) == {("2026-11", "GBP"), ("2026-12", "GBP")}
    assert rows[("2026-11", "GBP")].approved == Decimal("2240.93")
    assert rows[("2026-11", "GBP")].invoiced == Decimal("2240.93")
    assert rows[("2026-12", "GBP")].approved == Decimal("342.00")
    assert result.totals["GBP"].approved == Decimal("2582.93")
    assert result.unconverted == ()


def test_amounts_without_a_rate_stay_in_their_currency(bill, november):
    bill.org.base_currency = "GBP"
    result = report(bill, SpendQuery(start=date(2026, 11, 1), end=date(2026, 11, 30)))
    assert result.unconverted == ("EUR",)
    assert result.totals["EUR"].approved == Decimal("2636.38")


@pytest.fixture
def two_centres(bill, make_unit, session):
    """A second engagement of the freelancer in another cost centre and department, at 50/h:
    Nov 2: 90 minutes -> 75.00. The first engagement: Nov 2: 60 minutes at 90/h -> 90.00."""
    world = bill.world
    centre = make_unit(bill.org, "cost_centre")
    department = make_unit(bill.org, "department")
    other = world.make_engagement(
        bill.org,
        freelancer=world.freelancer,
        manager_id=world.manager.user_id,
        cost_centre_id=centre.id,
        department_id=department.id,
        rate="50",
        title="Second job",
    )
    bill.approved_week(date(2026, 11, 2), (60,))
    bill.approved_week(date(2026, 11, 2), (90,), engagement=other)
    first_centre = terms_rows(session, world.engagement.id)[0].cost_centre_id
    return other, centre, department, first_centre


def test_grouping_by_one_and_two_dimensions(bill, two_centres, session):
    other, centre, department, first_centre = two_centres
    from fms.workforce.models import CostCentre

    first_name = session.get(CostCentre, first_centre).name
    one = report(
        bill,
        SpendQuery(date(2026, 11, 1), date(2026, 11, 30), group_by=("cost_centre",)),
    )
    assert {r.keys: r.approved for r in one.rows} == {
        (first_name,): Decimal("90.00"),
        (centre.name,): Decimal("75.00"),
    }
    assert one.totals["EUR"].approved == Decimal("165.00")
    two = report(
        bill,
        SpendQuery(date(2026, 11, 1), date(2026, 11, 30), group_by=("engagement", "supplier")),
    )
    labels = {r.keys: (r.approved, r.minutes) for r in two.rows}
    assert labels[(f"ENG-{other.id:04d} · Second job", "Direct (no supplier)")] == (
        Decimal("75.00"),
        90,
    )
    assert len(labels) == 2
    weekly = report(bill, SpendQuery(date(2026, 11, 1), date(2026, 11, 30), grain="week"))
    assert [(r.period, r.approved) for r in weekly.rows] == [("2026-W45", Decimal("165.00"))]
    quarterly = report(bill, SpendQuery(date(2026, 10, 1), date(2026, 12, 31), grain="quarter"))
    assert [(r.period, r.approved) for r in quarterly.rows] == [("2026-Q4", Decimal("165.00"))]


def test_another_organizations_spend_never_appears(
    bill, two_centres, make_org, make_member, actor_of
):
    other_org = make_org()
    stranger = actor_of(make_member(other_org, roles=("finance",)))
    with as_org(bill.session, other_org.id):
        result = spend.spend_report(
            bill.session, actor=stranger, query=SpendQuery(date(2026, 11, 1), date(2026, 11, 30))
        )
    assert result.rows == [] and result.totals == {}


def test_who_may_read_spend(bill):
    query = SpendQuery(date(2026, 11, 1), date(2026, 11, 30))
    for actor in (bill.world.manager, bill.world.me):
        with pytest.raises(NotAllowed):
            report(bill, query, actor=actor)
    assert report(bill, query, actor=bill.world.procurement).rows == []


@pytest.mark.parametrize(
    "args, fields",
    [
        ({"from": "2026-13-01"}, {"from"}),
        ({"to": "yesterday"}, {"to"}),
        ({"from": "2026-05-01", "to": "2026-04-01"}, {"to"}),
        ({"from": "2020-01-01", "to": "2026-01-01"}, {"to"}),
        ({"grain": "day"}, {"grain"}),
        ({"group_by": "colour"}, {"group_by"}),
        ({"group_by": "country,skill,supplier"}, {"group_by"}),
        ({"currency": "USD"}, {"currency"}),
        ({"grain": "year", "currency": "x"}, {"grain", "currency"}),
    ],
)
def test_bad_filters_name_their_fields(args, fields):
    with pytest.raises(InvalidInput) as caught:
        spend.parse_spend_query(args, today=date(2026, 12, 2))
    assert set(caught.value.errors) == fields


def test_defaults_and_good_filters():
    query = spend.parse_spend_query({}, today=date(2026, 12, 2))
    assert (query.start, query.end, query.grain, query.currency) == (
        date(2026, 1, 1),
        date(2026, 12, 2),
        "month",
        "base",
    )
    query = spend.parse_spend_query(
        {"from": "2026-01-01", "to": "2026-03-31", "group_by": "country, skill", "grain": "week"},
        today=date(2026, 12, 2),
    )
    assert query.group_by == ("country", "skill") and query.grain == "week"


def test_statement_count_is_fixed(bill, two_centres, query_counter):
    query = SpendQuery(date(2026, 11, 1), date(2026, 11, 30), group_by=("cost_centre", "skill"))
    with query_counter() as small:
        report(bill, query)
    for week in (date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23)):
        bill.approved_week(week, (300, 200))
    with query_counter() as large:
        report(bill, query)
    assert len(small) == len(large)
    # the statements that read: on PostgreSQL one more sets the transaction's JIT off
    assert len([s for s in large if not s.lstrip().upper().startswith("SET")]) <= 5


# --- budget vs actual -------------------------------------------------------------------


def test_budget_actual_forecast_and_alerts(bill, session):
    """Cap 2000.00; Nov 2-3: 2 x 480 minutes at 90/h = 1440.00 (72 %: no warning yet).
    Today Monday Nov 30: the last four weeks (Nov 2-29) burnt 1440.00, 360.00 a week; 31
    days to the end (Dec 31): 360 x 31/7 = 1594.2857; forecast 3034.29 > 2000: an alert."""
    from fms.reports import budget

    bill.world.set_terms(budget_cap=Decimal("2000"))
    bill.approved_week(date(2026, 11, 2), (480, 480))
    with as_org(session, bill.org.id):
        result = budget.budget_report(session, actor=bill.finance, today=date(2026, 11, 30))
    [line] = result.engagements
    assert (line.budget, line.actual, line.burn_per_week, line.forecast) == (
        Decimal("2000.00"),
        Decimal("1440.00"),
        Decimal("360.00"),
        Decimal("3034.29"),
    )
    assert line.consumed == Decimal("72.0") and line.level == "forecast_over"
    assert result.alerts == [line]
    [po] = result.purchase_orders
    [centre] = result.cost_centres
    assert po.actual == centre.actual == Decimal("1440.00")
    # 80 % and 100 %
    bill.approved_week(date(2026, 11, 9), (160,))  # +240.00 -> 1680.00 = 84 %
    with as_org(session, bill.org.id):
        [line] = budget.budget_report(
            session, actor=bill.finance, today=date(2026, 11, 30)
        ).engagements
    assert line.actual == Decimal("1680.00") and line.level == "warning"
    bill.world.set_terms(budget_cap=Decimal("1600"))  # the cap lowered below the spend
    with as_org(session, bill.org.id):
        [line] = budget.budget_report(
            session, actor=bill.finance, today=date(2026, 11, 30)
        ).engagements
    assert line.level == "over"


def test_budget_needs_the_permission(bill, session):
    from fms.reports import budget

    with as_org(session, bill.org.id), pytest.raises(NotAllowed):
        budget.budget_report(session, actor=bill.world.manager, today=date(2026, 11, 30))


# --- rate benchmarks --------------------------------------------------------------------


def test_rate_benchmarks_average_median_and_range(session, bill, make_freelancer, make_skill):
    """Python level 4 in PL at 80, 90, 120 an hour: average 96.67, median 90, 80-120; a
    fourth at 100 makes the median (90 + 100) / 2 = 95.00. One at level 2 is its own row."""
    from fms.reports import rates
    from fms.workforce.models import FreelancerSkill

    org = bill.org
    python = make_skill(org)

    def person(rate, level=4, country="PL"):
        freelancer = make_freelancer(org, country=country)
        with as_org(session, org.id):
            session.add(
                FreelancerSkill(freelancer_id=freelancer.id, skill_id=python.id, level=level)
            )
            session.flush()
        bill.world.make_engagement(org, freelancer=freelancer, rate=rate)

    for rate in ("80", "90", "120"):
        person(rate)
    person("70", level=2)
    today = date(2026, 6, 1)

    def rows():
        with as_org(session, org.id):
            found = rates.rate_benchmarks(session, actor=bill.finance, today=today)
        return {(r.skill, r.level, r.country): r for r in found if r.skill == python.name}

    top = rows()[(python.name, 4, "PL")]
    assert (top.count, top.average, top.median, top.low, top.high) == (
        3,
        Decimal("96.67"),
        Decimal("90.00"),
        Decimal("80.00"),
        Decimal("120.00"),
    )
    assert rows()[(python.name, 2, "PL")].median == Decimal("70.00")
    person("100")
    assert rows()[(python.name, 4, "PL")].median == Decimal("95.00")


def test_daily_rates_in_large_currencies_stay_exact(bill):
    """A daily engagement at 300,000,000.50 IDR a day: 3 full days (6 half days) bill
    6 x 300,000,000.50 / 2 = 900,000,001.50 IDR; the sums stay exact however large."""
    world = bill.world
    daily = world.make_engagement(
        bill.org,
        freelancer=world.freelancer,
        manager_id=world.manager.user_id,
        kind="daily",
        currency="IDR",
        rate="300000000.5",
    )
    world.set_terms(engagement=daily, budget_cap=Decimal("100000000000"))
    bill.approved_week(date(2026, 11, 2), (0, 0, 0), engagement=daily, days="1")
    result = report(bill, SpendQuery(date(2026, 11, 1), date(2026, 11, 30), currency="original"))
    assert result.totals["IDR"].approved == Decimal("900000001.50")
    assert result.totals["IDR"].minutes == 3 * 480


@pytest.mark.postgres
def test_reports_run_without_jit_compilation(bill, session):
    """Compiling the report statements' expressions cost PostgreSQL more than running them
    (10.5 s of a 16.7 s year from the raw rows): a report turns JIT off for its transaction."""
    from sqlalchemy import text

    session.execute(text("SET LOCAL jit = on"))
    report(bill, NOV)
    assert session.execute(text("SHOW jit")).scalar() == "off"

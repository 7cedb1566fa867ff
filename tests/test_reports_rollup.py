"""The monthly spend roll-up (fms/reports/rollup.py): kept in step with approvals,
corrections, invoicing and exchange rates in the same transaction, and the reports it
backs give the figures of the raw rows (worked out by hand, and compared with the raw-row
computation); two approvals of one engagement and month at once both count (PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.reports import budget, rollup, spend
from fms.reports.models import SpendRollupCell
from fms.reports.spend import SpendQuery
from fms.workforce.models import ExchangeRate
from tests.factories import as_org

NOV_DEC = SpendQuery(start=date(2026, 11, 1), end=date(2026, 12, 31), currency="original")


def report(bill, query):
    with as_org(bill.session, bill.org.id):
        return spend.spend_report(bill.session, actor=bill.finance, query=query)


def raw_report(bill, query, monkeypatch):
    """The same report computed from the raw rows only (the roll-up not read)."""
    with monkeypatch.context() as patch:
        patch.setattr(rollup, "kept_lines", lambda *args, **kwargs: None)
        return report(bill, query)


def figures(result):
    return (
        [(r.period, r.keys, r.currency, r.approved, r.invoiced, r.minutes) for r in result.rows],
        {c: (t.approved, t.invoiced, t.minutes) for c, t in result.totals.items()},
        result.unconverted,
    )


def cells(session, org_id) -> int:
    with as_org(session, org_id):
        return session.scalar(
            select(func.count())
            .select_from(SpendRollupCell)
            .where(SpendRollupCell.org_id == org_id)
        )


def approved_expense(org_id, engagement_id, day, amount):
    """An approved expense row, written directly (no service, so no other lock taken)."""
    from fms.timesheets.models import Expense

    return Expense(
        org_id=org_id,
        engagement_id=engagement_id,
        spent_on=day,
        category="travel",
        amount=Decimal(amount),
        currency="EUR",
        description="Train",
        state="approved",
    )


def by_period(result):
    return {(r.period, r.currency): r for r in result.rows}


@pytest.fixture
def built(bill, session):
    """The organization's roll-up built (empty) before anything is approved."""
    with as_org(session, bill.org.id):
        assert rollup.rebuild(session, bill.org.id) == 0
    return bill


def test_kept_through_approval_invoicing_credit_and_correction(built, session, monkeypatch):
    """Rate 95/h, overtime 120/h beyond 8 h: Nov 2-4 480, 510, 7 minutes -> time 967 min
    = 1531.08, overtime 30 min = 60.00; milestone 1000.00; expense 45.30: November 2636.38,
    invoiced the same. Dec 7, 240 min = 380.00. An approved correction of +60 minutes on
    Dec 8: +95.00 -> December 475.00. A full credit note: November invoiced 0."""
    bill = built
    bill.world.set_terms(rate=Decimal("95"), overtime_rate=Decimal("120"))
    sheet = bill.approved_week(date(2026, 11, 2), (480, 510, 7))
    bill.milestone("1000.00", date(2026, 11, 20))
    bill.expense("45.30", date(2026, 11, 10))
    [invoice] = bill.close().invoices
    bill.issue(invoice)
    bill.approved_week(date(2026, 12, 7), (240,))
    result = report(bill, NOV_DEC)  # a report in the transaction sees its changes
    assert cells(session, bill.org.id) > 0
    rows = by_period(result)
    assert rows[("2026-11", "EUR")].approved == Decimal("2636.38")
    assert rows[("2026-11", "EUR")].invoiced == Decimal("2636.38")
    assert rows[("2026-11", "EUR")].minutes == 997
    assert rows[("2026-12", "EUR")].approved == Decimal("380.00")
    assert figures(result) == figures(raw_report(bill, NOV_DEC, monkeypatch))

    bill.adjustment(sheet, date(2026, 12, 8), minutes=60)
    result = report(bill, NOV_DEC)
    assert by_period(result)[("2026-12", "EUR")].approved == Decimal("475.00")
    assert by_period(result)[("2026-12", "EUR")].minutes == 300
    assert figures(result) == figures(raw_report(bill, NOV_DEC, monkeypatch))

    note = bill.credit(invoice)
    bill.issue(note)
    result = report(bill, NOV_DEC)
    assert by_period(result)[("2026-11", "EUR")].invoiced == Decimal("0.00")
    assert by_period(result)[("2026-11", "EUR")].approved == Decimal("2636.38")
    assert figures(result) == figures(raw_report(bill, NOV_DEC, monkeypatch))
    session.commit()  # the commit recomputes what is left; the figures stay
    assert figures(report(bill, NOV_DEC)) == figures(raw_report(bill, NOV_DEC, monkeypatch))


def test_a_new_exchange_rate_converts_the_kept_months_again(built, session, monkeypatch):
    """Base GBP. Oct 5 and Nov 2: 480 min at 90/h = 720.00 EUR each. EUR 0.85 from
    2026-01-01: 612.00 GBP each month. Then EUR 0.80 from 2026-11-02: November 576.00,
    October still 612.00."""
    bill = built
    bill.org.base_currency = "GBP"
    bill.world.set_terms(rate=Decimal("90"))
    bill.approved_week(date(2026, 10, 5), (480,))
    bill.approved_week(date(2026, 11, 2), (480,))
    query = SpendQuery(start=date(2026, 10, 1), end=date(2026, 11, 30))
    with as_org(session, bill.org.id):
        session.add(
            ExchangeRate(currency="EUR", rate=Decimal("0.85"), effective_from=date(2026, 1, 1))
        )
        session.flush()
    rows = by_period(report(bill, query))
    assert rows[("2026-10", "GBP")].approved == rows[("2026-11", "GBP")].approved
    assert rows[("2026-11", "GBP")].approved == Decimal("612.00")
    session.commit()
    with as_org(session, bill.org.id):
        session.add(
            ExchangeRate(currency="EUR", rate=Decimal("0.8"), effective_from=date(2026, 11, 2))
        )
        session.commit()
    result = report(bill, query)
    assert by_period(result)[("2026-10", "GBP")].approved == Decimal("612.00")
    assert by_period(result)[("2026-11", "GBP")].approved == Decimal("576.00")
    assert figures(result) == figures(raw_report(bill, query, monkeypatch))
    with as_org(session, bill.org.id):  # the rate corrected in place
        rate = session.scalar(select(ExchangeRate).where(ExchangeRate.rate == Decimal("0.8")))
        rate.rate = Decimal("0.75")
        session.commit()
    assert by_period(report(bill, query))[("2026-11", "GBP")].approved == Decimal("540.00")


def test_a_new_base_currency_converts_the_kept_lines_again(built, session, monkeypatch):
    """Base EUR, EUR 0.85 from 2026-01-01 (used once the base is GBP). Nov 2: 480 min at
    90/h = 720.00 EUR. The organization moves to GBP: 612.00 GBP."""
    bill = built
    bill.world.set_terms(rate=Decimal("90"))
    with as_org(session, bill.org.id):
        session.add(
            ExchangeRate(currency="EUR", rate=Decimal("0.85"), effective_from=date(2026, 1, 1))
        )
    bill.approved_week(date(2026, 11, 2), (480,))
    session.commit()
    query = SpendQuery(start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert {c: t.approved for c, t in report(bill, query).totals.items()} == {
        "EUR": Decimal("720.00")
    }
    with as_org(session, bill.org.id):
        bill.org.base_currency = "GBP"
        session.commit()
    result = report(bill, query)
    assert {c: t.approved for c, t in result.totals.items()} == {"GBP": Decimal("612.00")}
    assert figures(result) == figures(raw_report(bill, query, monkeypatch))


def test_partial_months_at_the_edges_come_from_the_raw_rows(built, session, monkeypatch):
    """Rate 90/h. Oct 26 - Nov 1 week: 60 minutes each day (Oct 26-31: 6 x 60 min; Nov 1:
    60 min); Nov 30: 120 min; Dec 1-2: 60 min each. Nov 1 - Nov 30 is whole: 180 min =
    270.00. Oct 30 - Dec 1: Oct 30-31 120 min = 180.00; November 270.00; Dec 1 60 min =
    90.00; total 540.00."""
    bill = built
    bill.world.set_terms(rate=Decimal("90"))
    bill.approved_week(date(2026, 10, 26), (60, 60, 60, 60, 60, 60, 60))
    bill.approved_week(date(2026, 11, 30), (120, 60, 60))
    session.commit()
    query = SpendQuery(start=date(2026, 10, 30), end=date(2026, 12, 1), currency="original")
    result = report(bill, query)
    rows = by_period(result)
    assert rows[("2026-10", "EUR")].approved == Decimal("180.00")
    assert rows[("2026-11", "EUR")].approved == Decimal("270.00")
    assert rows[("2026-12", "EUR")].approved == Decimal("90.00")
    assert result.totals["EUR"].approved == Decimal("540.00")
    assert figures(result) == figures(raw_report(bill, query, monkeypatch))
    quarter = SpendQuery(
        start=date(2026, 10, 30),
        end=date(2026, 12, 1),
        grain="quarter",
        group_by=("cost_centre", "engagement"),
    )
    result = report(bill, quarter)
    assert result.totals["EUR"].approved == Decimal("540.00")
    assert figures(result) == figures(raw_report(bill, quarter, monkeypatch))


def test_partial_months_mostly_inside_are_the_kept_month_minus_the_days_outside(
    built, session, monkeypatch
):
    """Rate 90/h. Oct 1 60 min (outside), Oct 2 60 min, Oct 26-31 6 x 60 min, Nov 1 60 min,
    Nov 30 120 min, Dec 1-2 60 min each, Dec 28 60 min, Dec 30 60 min (outside). Oct 2 -
    Dec 29: October 420 min = 630.00; November 180 min = 270.00; December 180 min = 270.00;
    1170.00. Both edge months have more days inside than outside: the kept month minus the
    raw rows of the days outside (none of it read from the raw rows of the days inside)."""
    bill = built
    bill.world.set_terms(rate=Decimal("90"))
    bill.approved_week(date(2026, 9, 28), (0, 0, 0, 60, 60))
    bill.approved_week(date(2026, 10, 26), (60, 60, 60, 60, 60, 60, 60))
    bill.approved_week(date(2026, 11, 30), (120, 60, 60))
    bill.approved_week(date(2026, 12, 28), (60, 0, 60))
    session.commit()
    query = SpendQuery(start=date(2026, 10, 2), end=date(2026, 12, 29), currency="original")
    read = []
    cell_parts = spend._cell_parts

    def spy(org_id, start, end, *args, **kwargs):
        read.append((start, end))
        return cell_parts(org_id, start, end, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(spend, "_cell_parts", spy)
        result = report(bill, query)
    assert sorted(read) == [
        (date(2026, 10, 1), date(2026, 10, 1)),
        (date(2026, 12, 30), date(2026, 12, 31)),
    ]
    rows = by_period(result)
    assert rows[("2026-10", "EUR")].approved == Decimal("630.00")
    assert rows[("2026-10", "EUR")].minutes == 420
    assert rows[("2026-11", "EUR")].approved == Decimal("270.00")
    assert rows[("2026-12", "EUR")].approved == Decimal("270.00")
    assert result.totals["EUR"].approved == Decimal("1170.00")
    assert figures(result) == figures(raw_report(bill, query, monkeypatch))
    one_month = SpendQuery(start=date(2026, 10, 2), end=date(2026, 10, 30), currency="original")
    assert report(bill, one_month).totals["EUR"].approved == Decimal("540.00")  # 360 min
    assert figures(report(bill, one_month)) == figures(raw_report(bill, one_month, monkeypatch))


def test_a_line_is_rounded_once_per_month_whatever_the_grouping(built, session, monkeypatch):
    """Rate 100.01/h: one minute is 1.666833 -> 1.67. A budget increase from Nov 9 adds a
    terms row with the same rate and cost centre: Nov 2 and Nov 16, one minute each, are one
    invoice line, 2 min = 3.33367 -> 3.33, and so is the report. October 1 min = 1.67: the
    quarter is the sum of its months, 5.00 (not 3 min rounded once, 5.0005 -> 5.00 either
    way), and each grouping adds up to the same total."""
    bill = built
    bill.world.set_terms(rate=Decimal("100.01"), budget_cap=Decimal("100000"))
    bill.world.amend("budget_increase", "2026-11-09", new_budget_cap="200000")
    bill.approved_week(date(2026, 10, 5), (1,))
    bill.close(period="2026-10", today=date(2026, 11, 2))
    bill.approved_week(date(2026, 11, 2), (1,))
    bill.approved_week(date(2026, 11, 16), (1,))
    [invoice] = bill.close().invoices
    session.commit()
    november = SpendQuery(date(2026, 11, 1), date(2026, 11, 30), currency="original")
    assert invoice.net_total == Decimal("3.33")
    assert report(bill, november).totals["EUR"].approved == Decimal("3.33")
    quarter = SpendQuery(date(2026, 10, 1), date(2026, 12, 31), grain="quarter")
    totals = {
        group_by: report(bill, replace(quarter, group_by=group_by)).totals["EUR"].approved
        for group_by in ((), ("cost_centre",), ("department", "engagement"), ("supplier",))
    }
    assert set(totals.values()) == {Decimal("5.00")}
    assert figures(report(bill, quarter)) == figures(raw_report(bill, quarter, monkeypatch))


def test_a_manager_change_within_a_month_splits_the_line_in_every_view(built, session):
    """Rate 100.01/h; the engagement moves to another hiring manager from Nov 9: Nov 2 and
    Nov 16, one minute each, are two lines of 1.67, in the plain view (3.34) and by hiring
    manager (1.67 each): the two views add up to the same total."""
    bill = built
    bill.world.set_terms(rate=Decimal("100.01"))
    bill.world.amend(
        "manager_transfer",
        "2026-11-09",
        new_hiring_manager_user_id=bill.world.manager2.user_id,
    )
    from fms.timesheets import services as ts

    bill.approved_week(date(2026, 11, 2), (1,))
    sheet = bill.world.fill(date(2026, 11, 16), (1,))
    bill.world.submit(sheet, today=date(2026, 11, 23))
    ts.approve_timesheet(session, actor=bill.world.manager2, timesheet_id=sheet.id)
    session.commit()
    november = SpendQuery(date(2026, 11, 1), date(2026, 11, 30), currency="original")
    assert report(bill, november).totals["EUR"].approved == Decimal("3.34")
    by_manager = report(bill, replace(november, group_by=("hiring_manager",)))
    assert [row.approved for row in by_manager.rows] == [Decimal("1.67"), Decimal("1.67")]
    assert by_manager.totals["EUR"].approved == Decimal("3.34")


def test_budget_reads_the_roll_up_with_the_same_figures(built, session):
    """As the budget test of test_reports_spend: cap 2000.00; Nov 2-3 2 x 480 minutes at
    90/h = 1440.00; burn 360.00 a week; forecast 3034.29."""
    bill = built
    bill.world.set_terms(budget_cap=Decimal("2000"))
    bill.approved_week(date(2026, 11, 2), (480, 480))
    session.commit()
    with as_org(session, bill.org.id):
        [line] = budget.budget_report(
            session, actor=bill.finance, today=date(2026, 11, 30)
        ).engagements
    assert (line.actual, line.burn_per_week, line.forecast) == (
        Decimal("1440.00"),
        Decimal("360.00"),
        Decimal("3034.29"),
    )


def test_rebuild_gives_the_cells_kept_so_far(built, session):
    bill = built
    bill.approved_week(date(2026, 11, 2), (480, 300))
    bill.approved_week(date(2026, 12, 7), (240,))
    session.commit()

    def kept():
        with as_org(session, bill.org.id):
            return sorted(
                tuple(getattr(cell, c) for c in spend.CELL_COLUMNS)
                for cell in session.scalars(select(SpendRollupCell))
            )

    before = kept()
    assert len(before) == 2  # one engagement, one terms row: November and December
    with as_org(session, bill.org.id):
        rollup.rebuild(session, bill.org.id)
        session.commit()
    assert kept() == before


def test_a_change_flushed_by_the_commit_itself_is_kept(built, session):
    """An approved expense added and committed with no flush before: 45.30 in November."""
    bill = built
    with as_org(session, bill.org.id):
        session.add(
            approved_expense(bill.org.id, bill.world.engagement.id, date(2026, 11, 10), "45.30")
        )
        session.commit()
    assert cells(session, bill.org.id) == 1
    result = report(bill, SpendQuery(date(2026, 11, 1), date(2026, 11, 30), currency="original"))
    assert result.totals["EUR"].approved == Decimal("45.30")


def test_a_bulk_approval_is_kept(built, session):
    """Bulk approval moves sheets in one UPDATE: Nov 2 and Nov 9, 120 minutes each at 90/h
    = 360.00 in November."""
    from fms.timesheets import services as ts

    bill = built
    bill.world.set_terms(rate=Decimal("90"))
    sheets = []
    for week in (date(2026, 11, 2), date(2026, 11, 9)):
        sheet = bill.world.fill(week, (120,))
        bill.world.submit(sheet, today=week + timedelta(days=7))
        sheets.append(sheet.id)
    session.commit()
    query = SpendQuery(date(2026, 11, 1), date(2026, 11, 30), currency="original")
    assert report(bill, query).totals == {}
    ts.bulk_approve(session, actor=bill.world.manager, timesheet_ids=sheets)
    session.commit()
    assert report(bill, query).totals["EUR"].approved == Decimal("360.00")


def test_rebuild_rollup_command_builds_an_organization(app, bill, session, monkeypatch):
    """Approved before any roll-up: Nov 2, 480 minutes at 90/h = 720.00; the command builds
    the organization's cells and the report reads them with the same figure."""
    bill.world.set_terms(rate=Decimal("90"))
    bill.approved_week(date(2026, 11, 2), (480,))
    session.commit()
    assert cells(session, bill.org.id) == 0  # no roll-up yet: nothing kept
    runner = app.test_cli_runner()
    built = runner.invoke(args=["fms", "reports", "rebuild-rollup", "--org", bill.org.slug])
    assert built.exit_code == 0, built.output
    assert f"Organization {bill.org.id}: 1 roll-up cells." in built.output
    assert cells(session, bill.org.id) == 1
    query = SpendQuery(date(2026, 11, 1), date(2026, 11, 30), currency="original")
    with monkeypatch.context() as patch:  # the report now reads the kept cell
        patch.setattr(spend, "_cell_parts", lambda *args, **kwargs: [])
        assert report(bill, query).totals["EUR"].approved == Decimal("720.00")
    unknown = runner.invoke(args=["fms", "reports", "rebuild-rollup", "--org", "no-such-org"])
    assert unknown.exit_code != 0 and "No organization" in unknown.output


@pytest.mark.postgres
def test_two_approvals_in_one_month_at_once_both_count(app, committed):
    """Two sheets of one engagement (600 minutes on Mondays 2 and 9 March 2026, 90/h),
    approved at the same moment by two sessions: March holds 1200 minutes = 1800.00."""
    from fms.identity.actor import Actor
    from fms.tenancy import scope_session
    from fms.timesheets import services as ts
    from tests.test_timesheet_concurrency import _race, _setup

    org_id, (first, second), people = _setup(committed)
    scope_session(committed, org_id)
    rollup.rebuild(committed, org_id)
    committed.commit()

    def approve(sheet_id):
        return lambda session: ts.approve_timesheet(
            session, actor=people["manager"], timesheet_id=sheet_id
        )

    outcomes = _race(app, org_id, ("a", approve(first)), ("b", approve(second)))
    assert outcomes == {"a": "done", "b": "done"}
    scope_session(committed, org_id)
    committed.expire_all()
    kept = committed.execute(
        select(func.sum(SpendRollupCell.minutes), func.sum(SpendRollupCell.items)).where(
            SpendRollupCell.org_id == org_id, SpendRollupCell.day == date(2026, 3, 1)
        )
    ).one()
    assert kept == (1200, 2)
    finance = Actor(user_id=people["manager"].user_id, org_id=org_id, roles=frozenset(["finance"]))
    result = spend.spend_report(
        committed,
        actor=finance,
        query=SpendQuery(date(2026, 3, 1), date(2026, 3, 31), currency="original"),
    )
    assert result.totals["EUR"].approved == Decimal("1800.00")


@pytest.mark.postgres
def test_a_recompute_waits_for_the_one_in_flight(app, committed):
    """March holds sheet 1 (600 minutes, approved and kept). Transaction A approves sheet 2
    and recomputes the engagement's cells, not yet committed; transaction B records an
    approved expense of the engagement (100.00 on 16 March) meanwhile. B's recompute must
    wait for A's, then replace A's cells: March holds one time cell of 1200 minutes (not
    A's 1200 beside B's) and the expense."""
    import threading

    from fms.extensions import db
    from fms.tenancy import scope_session
    from fms.timesheets import services as ts
    from fms.timesheets.models import Timesheet
    from tests.test_timesheet_concurrency import _setup

    org_id, (first, second), people = _setup(committed)
    scope_session(committed, org_id)
    rollup.rebuild(committed, org_id)
    ts.approve_timesheet(committed, actor=people["manager"], timesheet_id=first)
    committed.commit()
    sheet = committed.get(Timesheet, second)
    engagement_id = sheet.engagement_id
    sheet.state = "approved"  # transaction A
    rollup.apply_pending(committed)

    def record_an_expense():  # transaction B
        with app.app_context():
            session = db.session
            scope_session(session, org_id)
            session.add(approved_expense(org_id, engagement_id, date(2026, 3, 16), "100.00"))
            session.commit()
            session.remove()

    other = threading.Thread(target=record_an_expense)
    other.start()
    other.join(timeout=1.0)
    committed.commit()
    other.join()
    scope_session(committed, org_id)
    march = committed.execute(
        select(SpendRollupCell.kind, SpendRollupCell.minutes, SpendRollupCell.items)
        .where(SpendRollupCell.org_id == org_id, SpendRollupCell.day == date(2026, 3, 1))
        .order_by(SpendRollupCell.kind)
    ).all()
    assert [tuple(row) for row in march] == [("expense", 0, 1), ("time", 1200, 2)]

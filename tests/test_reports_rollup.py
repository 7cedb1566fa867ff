"""The monthly spend roll-up (fms/reports/rollup.py): kept in step with approvals,
corrections, invoicing and exchange rates in the same transaction, and the reports it
backs give the figures of the raw rows (worked out by hand, and compared with the raw-row
computation); two approvals of one engagement and month at once both count (PostgreSQL)."""

from __future__ import annotations

from datetime import date
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
        patch.setattr(rollup, "kept_cells", lambda *args, **kwargs: None)
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
    """Base GBP. Nov 2: 480 min at 90/h = 720.00 EUR. EUR 0.85 from 2026-01-01: 612.00 GBP.
    Then EUR 0.80 from 2026-11-01: 576.00 GBP."""
    bill = built
    bill.org.base_currency = "GBP"
    bill.world.set_terms(rate=Decimal("90"))
    bill.approved_week(date(2026, 11, 2), (480,))
    query = SpendQuery(start=date(2026, 11, 1), end=date(2026, 11, 30))
    with as_org(session, bill.org.id):
        session.add(
            ExchangeRate(currency="EUR", rate=Decimal("0.85"), effective_from=date(2026, 1, 1))
        )
        session.flush()
    assert by_period(report(bill, query))[("2026-11", "GBP")].approved == Decimal("612.00")
    session.commit()
    with as_org(session, bill.org.id):
        session.add(
            ExchangeRate(currency="EUR", rate=Decimal("0.8"), effective_from=date(2026, 11, 1))
        )
        session.commit()
    result = report(bill, query)
    assert by_period(result)[("2026-11", "GBP")].approved == Decimal("576.00")
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


def test_whole_months():
    assert rollup.whole_months(date(2026, 1, 1), date(2026, 12, 31)) == (
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert rollup.whole_months(date(2026, 1, 2), date(2026, 3, 30)) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    assert rollup.whole_months(date(2026, 1, 2), date(2026, 2, 27)) is None


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

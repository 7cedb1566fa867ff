"""Invoicing races on PostgreSQL with real concurrent sessions: finance users issuing at
the same moment get consecutive numbers with no gap and no duplicate (invoices and credit
notes alike); two closes at once bill every item exactly once."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.audit import services as audit
from fms.identity.actor import Actor
from fms.identity.models import Membership, User
from fms.invoicing import services as invoicing
from fms.invoicing import settings as billing
from fms.invoicing.models import Invoice, InvoiceLineItem
from fms.tenancy import scope_session
from fms.timesheets import services as ts
from fms.timesheets.models import PeriodLock, Timesheet, TimesheetEntry
from fms.workforce.models import EngagementTerms
from tests.test_timesheet_concurrency import _race
from tests.test_timesheet_concurrency import _setup as timesheet_race_world

pytestmark = pytest.mark.postgres
FINANCE = ("finance1", "finance2", "finance3", "finance4")


def _setup(session, more_weeks=(), billing_period="monthly"):
    """The timesheet race world (one engagement at 90/h, 600 minutes on the Mondays of
    2 and 9 March 2026), its weeks and `more_weeks` (600 minutes on their Monday) approved,
    four finance users, billing set up (its cost centre bills to a German entity at 19 %);
    committed."""
    # imported here: tests/test_invoicing.py registers the module as a plugin at collection
    from tests.factories_invoicing import billing_setup

    org_id, sheet_ids, people = timesheet_race_world(session)
    scope_session(session, org_id)
    engagement_id = session.scalar(select(Timesheet.engagement_id))
    for week in more_weeks:
        sheet = ts.open_timesheet(
            session, actor=people["freelancer"], engagement_id=engagement_id, week_start=week
        )
        ts.save_entries(
            session,
            actor=people["freelancer"],
            timesheet_id=sheet.id,
            entries=[{"work_date": week.isoformat(), "minutes": 600}],
        )
        ts.submit_timesheet(session, actor=people["freelancer"], timesheet_id=sheet.id, today=week)
        sheet_ids.append(sheet.id)
    for sheet_id in sheet_ids:
        ts.approve_timesheet(session, actor=people["manager"], timesheet_id=sheet_id)
    for name in FINANCE:
        user = User(email=f"inv-{name}@example.com", name=name)
        session.add(user)
        session.flush()
        session.add(Membership(org_id=org_id, user_id=user.id, roles=["finance"]))
        people[name] = Actor(user_id=user.id, org_id=org_id, roles=frozenset(["finance"]))
    centre = session.scalar(select(EngagementTerms.cost_centre_id))
    billing_setup(session, people["finance1"], centre)
    billing.update_billing_settings(
        session, actor=people["finance1"], billing_period=billing_period
    )
    session.commit()
    return org_id, people


def _close_weeks(session, org_id, people):
    """Close the weeks 10 to 13 of 2026 (2 to 29 March): four drafts."""
    scope_session(session, org_id)
    drafts = []
    for week in range(10, 14):
        result = invoicing.close_period(
            session, actor=people["finance1"], period=f"2026-W{week}", today=date(2026, 4, 1)
        )
        drafts += [invoice.id for invoice in result.invoices]
    session.commit()
    return drafts


def _issue_all_at_once(app, org_id, people, invoice_ids):
    def issuer(name, invoice_id):
        return lambda session: invoicing.issue_invoice(
            session, actor=people[name], invoice_id=invoice_id, today=date(2026, 5, 5)
        )

    return _race(
        app,
        org_id,
        *[
            (name, issuer(name, invoice_id))
            for name, invoice_id in zip(FINANCE, invoice_ids, strict=True)
        ],
    )


def test_concurrent_issues_get_consecutive_numbers(app, committed):
    org_id, people = _setup(
        committed, more_weeks=(date(2026, 3, 16), date(2026, 3, 23)), billing_period="weekly"
    )
    drafts = _close_weeks(committed, org_id, people)
    assert len(drafts) == 4
    outcomes = _issue_all_at_once(app, org_id, people, drafts)
    assert set(outcomes.values()) == {"done"}, outcomes
    assert _numbers(committed, org_id, "invoice") == [f"INV-2026-{n:05d}" for n in range(1, 5)]

    # credit notes: their own series, just as gapless
    scope_session(committed, org_id)
    notes = [
        invoicing.create_credit_note(
            committed, actor=people["finance1"], invoice_id=invoice_id, mode="full", reason="x"
        ).id
        for invoice_id in drafts
    ]
    committed.commit()
    outcomes = _issue_all_at_once(app, org_id, people, notes)
    assert set(outcomes.values()) == {"done"}, outcomes
    assert _numbers(committed, org_id, "credit_note") == [f"CN-2026-{n:05d}" for n in range(1, 5)]
    assert audit.verify_chain(committed, org_id).ok


def _numbers(session, org_id, kind):
    scope_session(session, org_id)
    session.expire_all()
    return sorted(session.scalars(select(Invoice.number).where(Invoice.kind == kind)))


def test_two_closes_of_one_period_make_one_set_of_invoices(app, committed):
    org_id, people = _setup(committed)

    def close(name):
        return lambda session: invoicing.close_period(
            session, actor=people[name], period="2026-03", today=date(2026, 4, 1)
        )

    outcomes = _race(app, org_id, ("a", close("finance1")), ("b", close("finance2")))
    # the second finds the period closed and answers its drafts: one set, made once
    assert outcomes == {"a": "done", "b": "done"}
    _assert_each_item_billed_once(committed, org_id, expected_entries=2)
    assert committed.scalar(select(func.count()).select_from(Invoice)) == 1
    assert committed.scalar(select(func.count()).select_from(PeriodLock)) == 1


def test_closes_of_two_periods_at_once_bill_each_item_once(app, committed):
    org_id, people = _setup(committed, more_weeks=(date(2026, 4, 6),))

    def close(name, period):
        return lambda session: invoicing.close_period(
            session, actor=people[name], period=period, today=date(2026, 5, 4)
        )

    outcomes = _race(
        app, org_id, ("mar", close("finance1", "2026-03")), ("apr", close("finance2", "2026-04"))
    )
    assert outcomes == {"mar": "done", "apr": "done"}
    # whichever went first, the March days are on one invoice only
    _assert_each_item_billed_once(committed, org_id, expected_entries=3)
    scope_session(committed, org_id)
    nets = committed.scalars(select(Invoice.net_total)).all()
    # three days of 600 minutes at 90/h = 2,700.00 in all, however they were split
    assert sum(nets) == Decimal("2700.00")


def _assert_each_item_billed_once(session, org_id, *, expected_entries):
    scope_session(session, org_id)
    session.expire_all()
    per_item = session.execute(
        select(InvoiceLineItem.item_id, func.count()).group_by(InvoiceLineItem.item_id)
    ).all()
    assert len(per_item) == expected_entries
    assert {count for _, count in per_item} == {1}
    marks = session.execute(
        select(TimesheetEntry.id, TimesheetEntry.invoice_id).where(
            TimesheetEntry.invoice_id.is_not(None)
        )
    ).all()
    billed_on = dict(
        session.execute(select(InvoiceLineItem.item_id, InvoiceLineItem.invoice_id)).all()
    )
    assert dict(marks) == billed_on
    assert audit.verify_chain(session, org_id).ok


@pytest.mark.postgres
def test_two_first_saves_of_the_billing_settings_store_one_row(app, committed):
    """No settings are stored yet and two finance users save at once: both saves apply, one
    after the other, to one row (before, the second insert failed the unique org_id: a
    500)."""
    from fms.invoicing.models import BillingSettings

    org_id, _, _ = timesheet_race_world(committed)
    scope_session(committed, org_id)
    finance = []
    for name in ("first", "second"):
        user = User(email=f"settings-{name}@example.com", name=name)
        committed.add(user)
        committed.flush()
        committed.add(Membership(org_id=org_id, user_id=user.id, roles=["finance"]))
        finance.append(Actor(user_id=user.id, org_id=org_id, roles=frozenset(["finance"])))
    committed.commit()
    outcomes = _race(
        app,
        org_id,
        (
            "terms",
            lambda s: billing.update_billing_settings(s, actor=finance[0], payment_terms_days=14),
        ),
        (
            "prefix",
            lambda s: billing.update_billing_settings(s, actor=finance[1], invoice_prefix="RE-"),
        ),
    )
    assert outcomes == {"terms": "done", "prefix": "done"}
    scope_session(committed, org_id)
    committed.expire_all()
    (row,) = committed.scalars(select(BillingSettings)).all()
    assert (row.payment_terms_days, row.invoice_prefix) == (14, "RE-")

"""Invoicing races on PostgreSQL with real concurrent sessions: finance users issuing at
the same moment get consecutive numbers with no gap and no duplicate (invoices and credit
notes alike); two closes at once bill every item exactly once."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.audit import services as audit
from fms.errors import DomainError
from fms.extensions import db
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.invoicing import services as invoicing
from fms.invoicing import settings as billing
from fms.invoicing.models import Invoice, InvoiceLineItem
from fms.tenancy import scope_session
from fms.timesheets import services as ts
from fms.timesheets.models import TimesheetEntry
from fms.workforce.models import (
    CostCentre,
    Department,
    Engagement,
    EngagementTerms,
    Freelancer,
    Location,
)

pytestmark = pytest.mark.postgres
# the first Monday of January to April 2026: one week of time in each month
MONDAYS = (date(2026, 1, 5), date(2026, 2, 2), date(2026, 3, 2), date(2026, 4, 6))
FINANCE = ("finance1", "finance2", "finance3", "finance4")


def _setup(session, weeks=MONDAYS, days=2):
    """An organization with one engagement, approved weeks of `days` 8-hour days, and
    billing set up (its cost centre bills to a German entity at 19 %); committed."""
    org = Organization(name="Race", slug="race-invoicing")
    session.add(org)
    session.flush()
    scope_session(session, org.id)
    audit.start_chain(session, org.id)
    people = {}
    for name, role in [("manager", "hiring_manager"), ("freelancer", "freelancer")] + [
        (name, "finance") for name in FINANCE
    ]:
        user = User(email=f"inv-{name}@example.com", name=name)
        session.add(user)
        session.flush()
        session.add(Membership(org_id=org.id, user_id=user.id, roles=[role]))
        people[name] = Actor(user_id=user.id, org_id=org.id, roles=frozenset([role]))
    units = {}
    for key, model, extra in (
        ("department_id", Department, {}),
        ("cost_centre_id", CostCentre, {}),
        ("location_id", Location, {"country": "DE"}),
    ):
        unit = model(org_id=org.id, code="X", name="X", **extra)
        session.add(unit)
        session.flush()
        units[key] = unit.id
    profile = Freelancer(
        org_id=org.id,
        user_id=people["freelancer"].user_id,
        legal_name="F",
        display_name="F",
        email="f@example.net",
        country="DE",
        timezone="Europe/Berlin",
        currency="EUR",
    )
    session.add(profile)
    session.flush()
    engagement = Engagement(
        org_id=org.id,
        title="Race",
        kind="hourly",
        state="active",
        freelancer_id=profile.id,
        currency="EUR",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
    )
    session.add(engagement)
    session.flush()
    session.add(
        EngagementTerms(
            org_id=org.id,
            engagement_id=engagement.id,
            effective_from=date(2026, 1, 1),
            rate=Decimal(90),
            budget_cap=Decimal(1000000),
            hiring_manager_user_id=people["manager"].user_id,
            weekly_minutes=2400,
            **units,
        )
    )
    session.flush()
    for week in weeks:
        sheet = ts.open_timesheet(
            session, actor=people["freelancer"], engagement_id=engagement.id, week_start=week
        )
        ts.save_entries(
            session,
            actor=people["freelancer"],
            timesheet_id=sheet.id,
            entries=[
                {"work_date": (week + timedelta(days=n)).isoformat(), "minutes": 480}
                for n in range(days)
            ],
        )
        ts.submit_timesheet(session, actor=people["freelancer"], timesheet_id=sheet.id, today=week)
        ts.approve_timesheet(session, actor=people["manager"], timesheet_id=sheet.id)
    finance = people["finance1"]
    billing.update_billing_settings(
        session, actor=finance, issuer_legal_name="FMS GmbH", issuer_vat_id="DE999"
    )
    entity = billing.add_bill_to_entity(
        session, actor=finance, name="Client GmbH", country="DE", vat_id="DE1"
    )
    billing.assign_cost_centre(
        session,
        actor=finance,
        cost_centre_id=units["cost_centre_id"],
        bill_to_entity_id=entity.id,
    )
    billing.add_vat_rate(
        session,
        actor=finance,
        country="DE",
        category="standard",
        rate="19",
        effective_from="2020-01-01",
    )
    session.commit()
    return org.id, people


def _race(app, org_id, *works):
    """Run each work in its own thread and session, released together; outcomes by name."""
    barrier = threading.Barrier(len(works))
    outcomes = {}

    def run(name, work):
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                barrier.wait()
                outcomes[name] = work(db.session)
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                outcomes[name] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=work) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _close_months(session, org_id, people):
    scope_session(session, org_id)
    drafts = []
    for month in range(1, 5):
        result = invoicing.close_period(
            session,
            actor=people["finance1"],
            period=f"2026-{month:02d}",
            today=date(2026, 5, 4),
        )
        drafts += [invoice.id for invoice in result.invoices]
    session.commit()
    return drafts


def _issue_all_at_once(app, org_id, people, invoice_ids):
    def issuer(name, invoice_id):
        def work(session):
            invoice = invoicing.issue_invoice(
                session, actor=people[name], invoice_id=invoice_id, today=date(2026, 5, 5)
            )
            return invoice.number

        return work

    return _race(
        app,
        org_id,
        *[
            (name, issuer(name, invoice_id))
            for name, invoice_id in zip(FINANCE, invoice_ids, strict=True)
        ],
    )


def test_concurrent_issues_get_consecutive_numbers(app, committed):
    org_id, people = _setup(committed)
    drafts = _close_months(committed, org_id, people)
    assert len(drafts) == 4
    outcomes = _issue_all_at_once(app, org_id, people, drafts)
    assert sorted(outcomes.values()) == [f"INV-2026-{n:05d}" for n in range(1, 5)], outcomes

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
    assert sorted(outcomes.values()) == [f"CN-2026-{n:05d}" for n in range(1, 5)], outcomes
    scope_session(committed, org_id)
    committed.expire_all()
    numbers = committed.scalars(select(Invoice.number)).all()
    assert len(numbers) == len(set(numbers)) == 8
    assert audit.verify_chain(committed, org_id).ok


def test_two_closes_of_one_period_make_one_set_of_invoices(app, committed):
    org_id, people = _setup(committed, weeks=MONDAYS[:2])

    def close(name):
        def work(session):
            result = invoicing.close_period(
                session, actor=people[name], period="2026-02", today=date(2026, 3, 2)
            )
            return result.created, [invoice.id for invoice in result.invoices]

        return work

    outcomes = _race(app, org_id, ("a", close("finance1")), ("b", close("finance2")))
    created = sorted(outcome[0] for outcome in outcomes.values())
    assert created == [False, True], outcomes
    assert outcomes["a"][1] == outcomes["b"][1]  # the same drafts, made once
    _assert_each_item_billed_once(committed, org_id, expected_entries=4)


def test_closes_of_two_periods_at_once_bill_each_item_once(app, committed):
    org_id, people = _setup(committed, weeks=MONDAYS[:3])

    def close(name, period):
        def work(session):
            result = invoicing.close_period(
                session, actor=people[name], period=period, today=date(2026, 4, 1)
            )
            return [invoice.id for invoice in result.invoices]

        return work

    outcomes = _race(
        app, org_id, ("feb", close("finance1", "2026-02")), ("mar", close("finance2", "2026-03"))
    )
    assert all(isinstance(outcome, list) for outcome in outcomes.values()), outcomes
    # whichever went first, the January and February days are on one invoice only
    _assert_each_item_billed_once(committed, org_id, expected_entries=6)
    scope_session(committed, org_id)
    nets = committed.scalars(select(Invoice.net_total)).all()
    # six 8-hour days at 90/h = 4,320.00 in all, however they were split
    assert sum(nets) == Decimal("4320.00")


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

"""Timesheet races on PostgreSQL with real concurrent sessions: two decisions on one sheet,
an edit racing an approval, two submissions racing the budget cap, bulk racing single."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.audit import services as audit
from fms.audit.models import AuditEntry
from fms.errors import DomainError
from fms.extensions import db
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.tenancy import scope_session
from fms.timesheets import services as ts
from fms.timesheets.models import Timesheet, TimesheetEntry
from fms.workforce.models import (
    CostCentre,
    Department,
    Engagement,
    EngagementTerms,
    Freelancer,
    Location,
)

pytestmark = pytest.mark.postgres
WEEKS = (date(2026, 3, 2), date(2026, 3, 9))


def _setup(session, *, budget_cap="100000", submit=True):
    org = Organization(name="Race", slug="race-ts")
    session.add(org)
    session.flush()
    scope_session(session, org.id)
    audit.start_chain(session, org.id)
    people = {}
    for name, role in [
        ("manager", "hiring_manager"),
        ("procurement", "procurement"),
        ("freelancer", "freelancer"),
    ]:
        user = User(email=f"ts-{name}@example.com", name=name)
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
            budget_cap=Decimal(budget_cap),
            hiring_manager_user_id=people["manager"].user_id,
            weekly_minutes=2400,
            **units,
        )
    )
    session.flush()
    sheet_ids = []
    for week in WEEKS:
        sheet = ts.open_timesheet(
            session, actor=people["freelancer"], engagement_id=engagement.id, week_start=week
        )
        ts.save_entries(
            session,
            actor=people["freelancer"],
            timesheet_id=sheet.id,
            entries=[{"work_date": week.isoformat(), "minutes": 600}],
        )
        if submit:
            ts.submit_timesheet(
                session, actor=people["freelancer"], timesheet_id=sheet.id, today=date(2026, 3, 20)
            )
        sheet_ids.append(sheet.id)
    session.commit()
    return org.id, sheet_ids, people


def _race(app, org_id, *works):
    """Run each work in its own thread and session, released together; outcomes by name."""
    barrier = threading.Barrier(len(works))
    outcomes = {}

    def run(name, work):
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                barrier.wait()
                work(db.session)
                db.session.commit()
                outcomes[name] = "done"
            except DomainError as exc:
                db.session.rollback()
                outcomes[name] = exc.detail
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=work) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _state(session, org_id, sheet_id):
    scope_session(session, org_id)
    session.expire_all()
    return session.scalar(select(Timesheet.state).where(Timesheet.id == sheet_id))


def _audited(session, action, sheet_id):
    return session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.entity_id == sheet_id)
    )


@pytest.mark.parametrize("second", ["approve", "reject"])
def test_two_decisions_on_one_sheet_one_wins(app, committed, second):
    org_id, (sheet_id, _), people = _setup(committed)

    def approve(session):
        ts.approve_timesheet(session, actor=people["manager"], timesheet_id=sheet_id)

    def other(session):
        if second == "approve":
            ts.approve_timesheet(session, actor=people["procurement"], timesheet_id=sheet_id)
        else:
            ts.reject_timesheet(
                session, actor=people["procurement"], timesheet_id=sheet_id, comment="No"
            )

    outcomes = _race(app, org_id, ("a", approve), ("b", other))
    winners = [name for name, outcome in outcomes.items() if outcome == "done"]
    assert len(winners) == 1, outcomes
    (loser,) = [outcome for outcome in outcomes.values() if outcome != "done"]
    assert "already been decided" in loser
    state = _state(committed, org_id, sheet_id)
    assert state in ("approved", "rejected")
    assert (
        _audited(committed, "timesheet.approved", sheet_id)
        + _audited(committed, "timesheet.rejected", sheet_id)
        == 1
    )
    assert audit.verify_chain(committed, org_id).ok


def test_an_edit_racing_an_approval_never_changes_the_approved_sheet(app, committed):
    org_id, (sheet_id, _), people = _setup(committed)
    # the freelancer's draft became submitted; the edit is refused whoever goes first, and
    # the approval holds: the entries are what was approved
    edit = [{"work_date": "2026-03-02", "minutes": 1440}]

    outcomes = _race(
        app,
        org_id,
        (
            "approve",
            lambda s: ts.approve_timesheet(s, actor=people["manager"], timesheet_id=sheet_id),
        ),
        (
            "edit",
            lambda s: ts.save_entries(
                s, actor=people["freelancer"], timesheet_id=sheet_id, entries=edit
            ),
        ),
    )
    assert outcomes["approve"] == "done"
    assert "can no longer be edited" in outcomes["edit"]
    assert _state(committed, org_id, sheet_id) == "approved"
    minutes = committed.scalars(
        select(TimesheetEntry.minutes).where(TimesheetEntry.timesheet_id == sheet_id)
    ).all()
    assert minutes == [600]


def test_two_submissions_cannot_pass_the_budget_cap_together(app, committed):
    # each week is 600 min at 90/h = 900.00; the cap is 1,500.00: one fits, not both
    org_id, sheet_ids, people = _setup(committed, budget_cap="1500", submit=False)

    def submit(sheet_id):
        return lambda s: ts.submit_timesheet(
            s, actor=people["freelancer"], timesheet_id=sheet_id, today=date(2026, 3, 20)
        )

    outcomes = _race(app, org_id, ("first", submit(sheet_ids[0])), ("second", submit(sheet_ids[1])))
    assert list(outcomes.values()).count("done") == 1, outcomes
    (refusal,) = [outcome for outcome in outcomes.values() if outcome != "done"]
    assert refusal.startswith("Budget cap: ")
    states = sorted(_state(committed, org_id, i) for i in sheet_ids)
    assert states == ["draft", "submitted"]


def test_bulk_approval_racing_a_rejection_reports_the_change(app, committed):
    org_id, sheet_ids, people = _setup(committed)
    results = {}

    def bulk(session):
        results["bulk"] = ts.bulk_approve(session, actor=people["manager"], timesheet_ids=sheet_ids)

    def reject(session):
        ts.reject_timesheet(
            session, actor=people["procurement"], timesheet_id=sheet_ids[0], comment="No"
        )

    outcomes = _race(app, org_id, ("bulk", bulk), ("reject", reject))
    assert outcomes["bulk"] == "done"
    first = _state(committed, org_id, sheet_ids[0])
    assert _state(committed, org_id, sheet_ids[1]) == "approved"
    if outcomes["reject"] == "done":
        assert first == "rejected"
        assert results["bulk"].approved == [sheet_ids[1]]
        assert results["bulk"].changed_meanwhile == [sheet_ids[0]]
    else:
        assert "already been decided" in outcomes["reject"]
        assert first == "approved" and results["bulk"].approved == sheet_ids
    assert audit.verify_chain(committed, org_id).ok


def test_an_expense_and_a_week_cannot_pass_the_budget_cap_together(app, committed):
    from fms.timesheets import expenses

    # the week is 900.00, the expense 700.00; the cap is 1,500.00: one fits, not both
    org_id, (sheet_id, _), people = _setup(committed, budget_cap="1500", submit=False)
    scope_session(committed, org_id)
    engagement_id = committed.scalar(
        select(Timesheet.engagement_id).where(Timesheet.id == sheet_id)
    )
    expense_id = expenses.create_expense(
        committed,
        actor=people["freelancer"],
        engagement_id=engagement_id,
        spent_on="2026-03-03",
        category="travel",
        amount="700.00",
        currency="EUR",
    ).id
    committed.commit()

    outcomes = _race(
        app,
        org_id,
        (
            "week",
            lambda s: ts.submit_timesheet(
                s, actor=people["freelancer"], timesheet_id=sheet_id, today=date(2026, 3, 20)
            ),
        ),
        (
            "expense",
            lambda s: expenses.submit_expense(
                s, actor=people["freelancer"], expense_id=expense_id, today=date(2026, 3, 20)
            ),
        ),
    )
    assert list(outcomes.values()).count("done") == 1, outcomes
    (refusal,) = [outcome for outcome in outcomes.values() if outcome != "done"]
    assert refusal.startswith("Budget cap: ")

"""Two approvers at the same moment: one decision wins, the other is told, nothing doubles."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from fms.errors import RuleViolation
from fms.extensions import db
from fms.identity.actor import Actor
from fms.identity.models import Membership, Organization, User
from fms.tenancy import scope_session
from fms.workforce import requisitions
from fms.workforce.models import (
    ApprovalRule,
    ApprovalStep,
    CostCentre,
    Department,
    Engagement,
    Location,
)


def _setup(session):
    org = Organization(name="Race", slug="race")
    session.add(org)
    session.flush()
    scope_session(session, org.id)
    people = []
    for index, role in enumerate(["hiring_manager", "procurement", "procurement"]):
        user = User(email=f"race{index}@example.com", name=f"Racer {index}")
        session.add(user)
        session.flush()
        session.add(Membership(org_id=org.id, user_id=user.id, roles=[role]))
        people.append(Actor(user_id=user.id, org_id=org.id, roles=frozenset([role])))
    units = {}
    for name, model, extra in (
        ("department_id", Department, {}),
        ("cost_centre_id", CostCentre, {}),
        ("location_id", Location, {"country": "DE"}),
    ):
        unit = model(org_id=org.id, code="X", name="X", **extra)
        session.add(unit)
        session.flush()
        units[name] = unit.id
    session.add(
        ApprovalRule(
            org_id=org.id,
            position=1,
            role="procurement",
            label="Procurement",
            min_budget=Decimal(0),
        )
    )
    req = requisitions.create_requisition(
        session,
        actor=people[0],
        title="Race",
        kind="hourly",
        start_date="2027-01-01",
        end_date="2027-03-31",
        weekly_minutes=2400,
        currency="EUR",
        rate_min="1",
        rate_max="2",
        budget="1000",
        justification="x",
        **units,
    )
    requisitions.submit_requisition(
        session, actor=people[0], requisition_id=req.id, today=date(2026, 12, 1)
    )
    session.commit()
    return org.id, req.id, people


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_two_approvers_never_double_approve(app, committed, attempt):
    org_id, req_id, people = _setup(committed)
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(actor):
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                barrier.wait()
                requisitions.decide_step(
                    db.session,
                    actor=actor,
                    requisition_id=req_id,
                    approve=True,
                    today=date(2026, 12, 1),
                )
                db.session.commit()
                outcomes.append("approved")
            except RuleViolation:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, args=(p,)) for p in people[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["approved", "refused"]
    scope_session(committed, org_id)
    committed.expire_all()
    steps = committed.scalars(select(ApprovalStep).where(ApprovalStep.requisition_id == req_id))
    assert [s.state for s in steps] == ["approved"]
    engagements = committed.scalars(select(Engagement).where(Engagement.requisition_id == req_id))
    assert len(engagements.all()) == 1


@pytest.mark.postgres
def test_a_reject_racing_a_cancel_never_deadlocks(app, committed, monkeypatch):
    """The reject has decided its step (and written its audit entry) when the cancel starts;
    only then does it move the requisition. Both take the audit chain head first (one lock
    order), so the cancel waits and is told; before, the cancel locked the requisition, the
    reject waited for it while holding the head, and PostgreSQL found a deadlock (500)."""
    import time

    org_id, req_id, people = _setup(committed)
    requester, approver = people[0], people[1]
    outcomes, crashes = {}, []
    cancel_thread = None
    real_transition = requisitions.transition

    def run(name, work):
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                work()
                db.session.commit()
                outcomes[name] = "done"
            except RuleViolation:
                db.session.rollback()
                outcomes[name] = "refused"
            except Exception as exc:  # noqa: BLE001 - a deadlock is what this test looks for
                db.session.rollback()
                crashes.append(repr(exc))
            finally:
                db.session.remove()

    def cancel():
        requisitions.cancel_requisition(db.session, actor=requester, requisition_id=req_id)

    def transition_after_the_cancel_started(*args, **kwargs):
        nonlocal cancel_thread
        if threading.current_thread().name == "reject" and cancel_thread is None:
            cancel_thread = threading.Thread(target=run, args=("cancel", cancel), name="cancel")
            cancel_thread.start()
            time.sleep(1.5)  # the cancel runs as far as it can meanwhile
        return real_transition(*args, **kwargs)

    monkeypatch.setattr(requisitions, "transition", transition_after_the_cancel_started)

    def reject():
        requisitions.decide_step(
            db.session,
            actor=approver,
            requisition_id=req_id,
            approve=False,
            comment="Budget too high",
            today=date(2026, 12, 1),
        )

    reject_thread = threading.Thread(target=run, args=("reject", reject), name="reject")
    reject_thread.start()
    reject_thread.join()
    cancel_thread.join()
    assert crashes == []
    assert outcomes == {"reject": "done", "cancel": "refused"}


def _engagements_for_one_freelancer(session, org_id, *, states, attached=True):
    from decimal import Decimal

    from fms.workforce.models import EngagementTerms, Freelancer

    units = {
        "department_id": session.scalar(select(Department.id)),
        "cost_centre_id": session.scalar(select(CostCentre.id)),
        "location_id": session.scalar(select(Location.id)),
    }
    manager = session.scalar(select(Membership.user_id).where(Membership.org_id == org_id))
    person = Freelancer(
        org_id=org_id,
        legal_name="Ines Costa",
        display_name="Ines Costa",
        email="ines@freelance.example",
        country="PT",
        timezone="Europe/Lisbon",
        currency="EUR",
    )
    session.add(person)
    session.flush()
    ids = []
    for state in states:
        engagement = Engagement(
            org_id=org_id,
            title="Data work",
            kind="hourly",
            state=state,
            freelancer_id=person.id if attached else None,
            currency="EUR",
            start_date=date(2027, 1, 1),
            end_date=date(2027, 6, 30),
        )
        session.add(engagement)
        session.flush()
        session.add(
            EngagementTerms(
                org_id=org_id,
                engagement_id=engagement.id,
                effective_from=engagement.start_date,
                rate=Decimal("90"),
                budget_cap=Decimal("50000"),
                hiring_manager_user_id=manager,
                weekly_minutes=2400,
                **units,
            )
        )
        ids.append(engagement.id)
    session.commit()
    return ids if attached else (ids, person.id)


@pytest.mark.postgres
def test_ten_concurrent_notices_make_one_change_and_one_audit_entry(app, committed):
    from fms.audit.models import AuditEntry
    from fms.workforce import engagements

    org_id, _, people = _setup(committed)
    (engagement_id,) = _engagements_for_one_freelancer(committed, org_id, states=["active"])
    procurement = people[1]
    barrier = threading.Barrier(10)
    outcomes = []

    def notice():
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                barrier.wait()
                engagements.give_notice(
                    db.session,
                    actor=procurement,
                    engagement_id=engagement_id,
                    end_date="2027-05-31",
                    reason="Project stopped",
                    today=date(2027, 2, 1),
                )
                db.session.commit()
                outcomes.append("done")
            except RuleViolation:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=notice) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["done"] + ["refused"] * 9
    scope_session(committed, org_id)
    entries = committed.scalars(
        select(AuditEntry).where(AuditEntry.action == "engagement.notice_given")
    ).all()
    assert len(entries) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_two_bookings_of_one_freelancer_in_the_same_dates_make_one(app, committed, attempt):
    from fms.workforce import engagements

    org_id, _, people = _setup(committed)
    (first, second), person_id = _engagements_for_one_freelancer(
        committed, org_id, states=["approved", "approved"], attached=False
    )
    procurement = people[1]
    barrier = threading.Barrier(2)
    outcomes = []

    def book(engagement_id):
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                barrier.wait()
                engagements.start_onboarding(
                    db.session,
                    actor=procurement,
                    engagement_id=engagement_id,
                    freelancer_id=person_id,
                )
                db.session.commit()
                outcomes.append("booked")
            except RuleViolation:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=book, args=(i,)) for i in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["booked", "refused"]
    scope_session(committed, org_id)
    states = committed.scalars(
        select(Engagement.state).where(Engagement.id.in_([first, second]))
    ).all()
    assert sorted(states) == ["approved", "onboarding"]


def _engagement_with_two_pending(session, org_id, people, kind, first, second):
    """An active engagement managed by people[0], who proposes two changes of one kind."""
    from fms.workforce import engagements
    from fms.workforce.models import EngagementTerms, Freelancer

    units = {
        name: session.scalar(select(model.id))
        for name, model in (
            ("department_id", Department),
            ("cost_centre_id", CostCentre),
            ("location_id", Location),
        )
    }
    person = Freelancer(
        org_id=org_id,
        legal_name="Ada",
        display_name="Ada",
        email="ada@example.net",
        country="DE",
        timezone="Europe/Berlin",
        currency="EUR",
    )
    session.add(person)
    session.flush()
    engagement = Engagement(
        org_id=org_id,
        title="Composed",
        kind="hourly",
        state="active",
        freelancer_id=person.id,
        currency="EUR",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
    )
    session.add(engagement)
    session.flush()
    session.add(
        EngagementTerms(
            org_id=org_id,
            engagement_id=engagement.id,
            effective_from=engagement.start_date,
            rate=Decimal(90),
            budget_cap=Decimal(100000),
            hiring_manager_user_id=people[0].user_id,
            weekly_minutes=2400,
            **units,
        )
    )
    session.flush()
    ids = []
    for effective_from, value in (first, second):
        values = {"new_end_date": value} if kind == "extension" else {"new_rate": value}
        ids.append(
            engagements.request_amendment(
                session,
                actor=people[0],
                engagement_id=engagement.id,
                kind=kind,
                effective_from=effective_from,
                reason="More",
                **values,
            ).id
        )
    session.commit()
    return engagement.id, ids


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["extension", "rate_change"])
def test_two_amendments_approved_at_once_compose(app, committed, kind):
    """Two procurement people approve two changes of one engagement at the same moment: the
    engagement's row lock puts one after the other, so both apply and neither undoes the
    other (the end is the later extension; each rate holds from its own date)."""
    from fms.workforce import engagements

    org_id, _, people = _setup(committed)
    if kind == "extension":
        pair = (("2026-12-31", "2027-06-30"), ("2026-12-31", "2027-03-31"))
    else:
        pair = (("2026-07-01", "120"), ("2026-10-01", "150"))
    engagement_id, amendment_ids = _engagement_with_two_pending(
        committed, org_id, people, kind, *pair
    )
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(actor, amendment_id):
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                barrier.wait()
                engagements.decide_amendment(
                    db.session, actor=actor, amendment_id=amendment_id, approve=True
                )
                db.session.commit()
                outcomes.append("approved")
            except Exception as exc:  # noqa: BLE001 - the test reports what went wrong
                db.session.rollback()
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=approve, args=(people[1], amendment_ids[0])),
        threading.Thread(target=approve, args=(people[2], amendment_ids[1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["approved", "approved"]
    scope_session(committed, org_id)
    committed.expire_all()
    if kind == "extension":
        assert committed.get(Engagement, engagement_id).end_date == date(2027, 6, 30)
    else:
        rates = {
            day: engagements.terms_on(committed, engagement_id, day).rate
            for day in (date(2026, 6, 30), date(2026, 8, 1), date(2026, 11, 1))
        }
        assert rates == {
            date(2026, 6, 30): Decimal(90),
            date(2026, 8, 1): Decimal(120),
            date(2026, 11, 1): Decimal(150),
        }


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(2))
def test_the_same_stand_in_named_twice_at_once_is_made_once(app, committed, attempt):
    """Two requests naming the same stand-in for the same days at the same moment: one
    delegation, the other told the days are covered (a read-then-insert would make two)."""
    from fms.workforce import delegations
    from fms.workforce.models import Delegation

    org_id, _, people = _setup(committed)
    scope_session(committed, org_id)
    user = User(email="standin@example.com", name="Stand-in")
    committed.add(user)
    committed.flush()
    committed.add(Membership(org_id=org_id, user_id=user.id, roles=["hiring_manager"]))
    committed.commit()
    manager = people[0]
    stand_in = Actor(user_id=user.id, org_id=org_id, roles=frozenset(["hiring_manager"]))
    barrier = threading.Barrier(2)
    outcomes = []

    def name_stand_in():
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                barrier.wait()
                delegations.create_delegation(
                    db.session,
                    actor=manager,
                    delegate_user_id=stand_in.user_id,
                    starts_on="2027-03-01",
                    ends_on="2027-03-10",
                    today=date(2027, 2, 1),
                )
                db.session.commit()
                outcomes.append("made")
            except RuleViolation:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=name_stand_in) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["made", "refused"]
    scope_session(committed, org_id)
    assert len(committed.scalars(select(Delegation)).all()) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_two_checklist_steps_added_at_once_take_positions_one_and_two(
    app, committed, attempt, monkeypatch
):
    import time

    from fms.workforce import services
    from fms.workforce.models import OnboardingTemplateStep

    org_id, _req_id, people = _setup(committed)
    admin = Actor(user_id=people[0].user_id, org_id=org_id, roles=frozenset(["org_admin"]))
    record = services.audit.record

    def slow_record(*args, **kwargs):  # hold the first addition open a moment
        time.sleep(0.2)
        return record(*args, **kwargs)

    monkeypatch.setattr(services.audit, "record", slow_record)
    barrier = threading.Barrier(2)

    def add(title):
        with app.app_context():
            scope_session(db.session, org_id)
            try:
                barrier.wait()
                services.add_onboarding_template_step(
                    db.session, actor=admin, title=title, kind="sign"
                )
                db.session.commit()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=add, args=(t,)) for t in ("NDA", "Contract")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committed.expire_all()
    positions = committed.scalars(select(OnboardingTemplateStep.position)).all()
    assert sorted(positions) == [1, 2]

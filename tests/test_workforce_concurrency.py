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

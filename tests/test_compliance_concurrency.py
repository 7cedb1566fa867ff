"""Compliance races on PostgreSQL with real concurrent sessions: two reviewers deciding one
document, two officers deciding one high-risk classification, two sweeps at once."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fms.audit import services as audit
from fms.audit.models import AuditEntry
from fms.compliance import classification, documents
from fms.compliance.models import Classification, ComplianceDocument
from fms.compliance.sweep import sweep
from fms.errors import DomainError
from fms.extensions import db
from fms.identity.actor import Actor, system_actor
from fms.identity.models import Membership, Organization, User
from fms.notifications.models import Notification
from fms.tenancy import scope_session
from fms.workforce.models import (
    CostCentre,
    Department,
    Engagement,
    EngagementTerms,
    Freelancer,
    Location,
)
from tests.factories_compliance import PDF

pytestmark = pytest.mark.postgres


def _setup(session):
    org = Organization(name="Race", slug="race-compliance")
    session.add(org)
    session.flush()
    scope_session(session, org.id)
    audit.start_chain(session, org.id)
    people = {}
    for name, role in [
        ("officer", "compliance"),
        ("officer2", "compliance"),
        ("manager", "hiring_manager"),
        ("freelancer", "freelancer"),
    ]:
        user = User(email=f"c-{name}@example.com", name=name)
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
        legal_name="Grace Hopper",
        display_name="Grace",
        email="grace@example.net",
        country="US",
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
            budget_cap=Decimal(100000),
            hiring_manager_user_id=people["manager"].user_id,
            weekly_minutes=2400,
            **units,
        )
    )
    session.flush()
    document = documents.upload_document(
        session,
        actor=people["freelancer"],
        freelancer_id=profile.id,
        kind="w9",
        filename="w9.pdf",
        data=PDF,
    )
    session.commit()
    return org.id, people, profile, engagement.id, document.id


def _race(app, org_id, *works):
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


def _count(session, model, *where):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_two_reviewers_deciding_one_document_one_wins(app, committed):
    org_id, people, _, _, document_id = _setup(committed)

    def approve(session):
        documents.review_document(
            session, actor=people["officer"], document_id=document_id, approve=True
        )

    def reject(session):
        documents.review_document(
            session,
            actor=people["officer2"],
            document_id=document_id,
            approve=False,
            reason="Unreadable",
        )

    outcomes = _race(app, org_id, ("approve", approve), ("reject", reject))
    assert sorted(outcomes.values()).count("done") == 1, outcomes
    scope_session(committed, org_id)
    state = committed.scalar(
        select(ComplianceDocument.state).where(ComplianceDocument.id == document_id)
    )
    assert state in ("approved", "rejected")
    decided = _count(
        committed,
        AuditEntry,
        AuditEntry.entity_id == document_id,
        AuditEntry.action.in_(("compliance_document.approved", "compliance_document.rejected")),
    )
    assert decided == 1
    assert audit.verify_chain(committed, org_id).ok


def test_two_officers_deciding_one_classification_one_wins(app, committed):
    org_id, people, _, engagement_id, _ = _setup(committed)
    scope_session(committed, org_id)
    high = {
        "prong_a_free_from_control": "no",
        "prong_b_outside_usual_course": "no",
        "prong_c_independent_business": "no",
    }
    assessed = classification.assess(
        committed,
        actor=people["freelancer"],
        engagement_id=engagement_id,
        jurisdiction="us_ca",
        answers=high,
    )
    assessed_id = assessed.id
    committed.commit()

    def decide(actor, accept):
        return lambda session: classification.decide(
            session, actor=actor, classification_id=assessed_id, accept=accept, rationale="R"
        )

    outcomes = _race(
        app,
        org_id,
        ("accept", decide(people["officer"], True)),
        ("refuse", decide(people["officer2"], False)),
    )
    assert list(outcomes.values()).count("done") == 1, outcomes
    scope_session(committed, org_id)
    committed.expire_all()
    assert committed.get(Classification, assessed_id).state in ("accepted", "refused")


def test_two_sweeps_at_once_notify_once(app, committed):
    org_id, people, _, _, document_id = _setup(committed)
    scope_session(committed, org_id)
    document = committed.get(ComplianceDocument, document_id)
    documents.review_document(
        committed, actor=people["officer"], document_id=document_id, approve=True
    )
    document.expires_on = date(2026, 6, 30)
    committed.commit()

    def run(session):
        sweep(session, actor=system_actor(org_id), today=date(2026, 6, 30) - timedelta(days=10))

    outcomes = _race(app, org_id, ("a", run), ("b", run))
    assert set(outcomes.values()) == {"done"}, outcomes
    scope_session(committed, org_id)
    sent = _count(committed, Notification, Notification.kind == "compliance.document_expiring")
    assert sent == 2  # the freelancer and the hiring manager, once each


def test_two_sweeps_at_once_expire_and_open_offboarding_once(app, committed):
    from fms.compliance.models import OffboardingStep
    from fms.compliance.rules import DEFAULT_OFFBOARDING

    org_id, people, _, engagement_id, document_id = _setup(committed)
    scope_session(committed, org_id)
    documents.review_document(
        committed, actor=people["officer"], document_id=document_id, approve=True
    )
    committed.get(ComplianceDocument, document_id).expires_on = date(2026, 12, 10)
    committed.commit()

    def run(session):  # eleven days before the engagement's last day
        sweep(session, actor=system_actor(org_id), today=date(2026, 12, 20))

    outcomes = _race(app, org_id, ("a", run), ("b", run))
    assert set(outcomes.values()) == {"done"}, outcomes
    scope_session(committed, org_id)
    for action in ("offboarding.opened", "compliance_document.expired"):
        assert _count(committed, AuditEntry, AuditEntry.action == action) == 1, action
    opened = _count(committed, OffboardingStep, OffboardingStep.engagement_id == engagement_id)
    assert opened == len(DEFAULT_OFFBOARDING)
    assert audit.verify_chain(committed, org_id).ok

"""The demo organization's workforce: suppliers, skills, requisitions, two years of engagements.

Deterministic (a seeded generator, dates relative to today) and loaded once: a second run
finds the engagements and leaves everything as it is.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.identity.models import Organization, User
from fms.timekeeping import utcnow
from fms.workforce import requisitions, rules, services
from fms.workforce.models import (
    ApprovalRule,
    CostCentre,
    Department,
    Engagement,
    EngagementTerms,
    Freelancer,
    FreelancerSkill,
    Location,
    PerformanceReview,
)

SUPPLIERS = [
    ("Hays Talent Solutions GmbH", "DE", "DE136695976", "Katrin Böhm", "katrin.boehm@hays.example"),
    ("Randstad Professionals B.V.", "NL", None, "Joost Meijer", "joost.meijer@randstad.example"),
    ("Harvey Nash Ltd", "GB", None, "Priya Shah", "priya.shah@harveynash.example"),
    ("Infosys BPM Staffing", "IN", None, "Arjun Rao", "arjun.rao@infosys.example"),
]
SKILLS = [
    ("Python", "Engineering"),
    ("PostgreSQL", "Engineering"),
    ("TypeScript", "Engineering"),
    ("AWS", "Cloud"),
    ("Kubernetes", "Cloud"),
    ("SAP S/4HANA", "Enterprise systems"),
    ("Power systems", "Energy"),
    ("Energy trading", "Energy"),
    ("Machine learning", "Data"),
    ("UX research", "Design"),
    ("IFRS reporting", "Finance"),
    ("Contract law", "Legal"),
]
RATES = [
    ("GBP", "1.160000"),
    ("USD", "0.920000"),
    ("PLN", "0.232000"),
    ("INR", "0.011000"),
    ("RON", "0.201000"),
    ("CHF", "1.050000"),
]
TITLES = [
    "Senior Python engineer, grid data platform",
    "Data engineer, trading pipelines",
    "SAP S/4HANA finance consultant",
    "UX researcher, customer portal",
    "Cloud security architect",
    "Power-systems engineer, grid studies",
    "ML engineer, load forecasting",
    "Frontend engineer, field app",
    "IFRS controller",
    "Contract lawyer, procurement",
    "Scrum master, metering programme",
    "Kubernetes platform engineer",
]
EXTRA_STAFF = [
    ("procurement2@northbridge.example", "Sofia Lindqvist", ["procurement"]),
    ("manager2@northbridge.example", "Tom Becker", ["hiring_manager"]),
]


def load_workforce_demo(session: Session, *, actor, password: str, today: date) -> str:
    """Add the demo's workforce once; returns a one-line summary."""
    if session.scalar(select(func.count(Engagement.id))):
        return "Workforce demo already loaded."
    from fms.identity import services as identity

    rng = random.Random(2026)
    known = set(session.scalars(select(User.email)))
    for email, name, roles in EXTRA_STAFF:
        if email not in known:
            identity.create_local_member(
                session,
                org=session.get(Organization, actor.org_id),
                actor=actor,
                email=email,
                name=name,
                roles=roles,
                password=password,
            )
    users = {u.email: u.id for u in session.scalars(select(User))}
    managers = [users["manager@northbridge.example"], users["manager2@northbridge.example"]]

    if not session.scalar(select(func.count(ApprovalRule.id))):
        services.set_approval_chain(
            session,
            actor=actor,
            steps=[
                {"role": role, "min_budget": str(minimum)}
                for _, role, minimum in rules.DEFAULT_APPROVAL_CHAIN
            ],
        )
    for currency, rate in RATES:
        services.add_exchange_rate(
            session,
            actor=actor,
            currency=currency,
            rate=rate,
            effective_from=today - timedelta(days=730),
        )
    suppliers = []
    for name, country, tax_id, contact, email in SUPPLIERS:
        supplier = services.create_supplier(
            session, actor=actor, name=name, country=country, tax_id=tax_id
        )
        services.add_supplier_contact(
            session,
            actor=actor,
            supplier_id=supplier.id,
            name=contact,
            email=email,
            role="Account manager",
        )
        suppliers.append(supplier)
    skills = [services.create_skill(session, actor=actor, name=n, category=c) for n, c in SKILLS]

    freelancers = list(session.scalars(select(Freelancer).order_by(Freelancer.id)))
    by_country = {"GB": suppliers[2], "NL": suppliers[1], "IN": suppliers[3], "DE": suppliers[0]}
    for index, person in enumerate(freelancers):
        if index % 3 == 0 and person.country in by_country:
            person.supplier_id = by_country[person.country].id
        for skill in rng.sample(skills, 2):
            session.add(
                FreelancerSkill(
                    org_id=actor.org_id,
                    freelancer_id=person.id,
                    skill_id=skill.id,
                    level=rng.randint(2, 5),
                )
            )
    session.flush()

    units = {
        model: list(session.scalars(select(model.id).order_by(model.id)))
        for model in (Department, CostCentre, Location)
    }
    engagements = _engagements(session, actor, rng, today, freelancers, managers, units)
    _onboarding_checklists(session, actor, today, managers, units)
    _requisitions(session, actor, users, today, units)
    _amendments_and_stand_in(session, actor, users, today)
    return (
        f"Workforce demo: {len(suppliers)} suppliers, {len(skills)} skills, "
        f"{engagements} engagements over two years, requisitions in every state."
    )


def _engagements(session, actor, rng, today, freelancers, managers, units) -> int:
    made = 0
    for index, person in enumerate(freelancers + freelancers[:14]):
        # 60 engagements: start somewhere in the last two years, 3 to 15 months long
        start = today - timedelta(days=rng.randint(20, 730))
        end = start + timedelta(days=rng.randint(90, 450))
        if index >= len(freelancers):  # a second, later engagement for some people
            start = today + timedelta(days=rng.randint(-60, 40))
            end = start + timedelta(days=rng.randint(60, 240))
        kind = rng.choice(["hourly", "hourly", "hourly", "daily", "fixed", "trial"])
        if kind == "trial":
            end = start + timedelta(days=29)
        state = "ended" if end < today else ("active" if start <= today else "onboarding")
        if state == "onboarding" and rng.random() < 0.4:
            state = "approved"
        rate = Decimal(rng.choice([75, 85, 95, 110, 125])) * (8 if kind == "daily" else 1)
        engagement = Engagement(
            org_id=actor.org_id,
            title=TITLES[index % len(TITLES)],
            kind=kind,
            state=state,
            freelancer_id=person.id,
            supplier_id=person.supplier_id,
            currency=person.currency,
            po_number=f"PO-{4500000 + index}",
            start_date=start,
            end_date=end,
        )
        session.add(engagement)
        session.flush()
        minutes = rng.choice([960, 1440, 1920, 2400, 2400])
        terms = EngagementTerms(
            org_id=actor.org_id,
            engagement_id=engagement.id,
            effective_from=start,
            rate=rate,
            budget_cap=(rate * Decimal(minutes) / 60 * 26).quantize(Decimal("1")),
            hiring_manager_user_id=managers[index % 2],
            department_id=units[Department][index % len(units[Department])],
            cost_centre_id=units[CostCentre][index % len(units[CostCentre])],
            location_id=units[Location][index % len(units[Location])],
            weekly_minutes=minutes,
        )
        session.add(terms)
        session.flush()
        audit.record(
            session,
            actor,
            "engagement.created",
            engagement,
            after={"title": engagement.title, "state": state},
        )
        if state in ("active", "ended") and (end - start).days > 200 and index % 3 == 1:
            # a rate review half-way through, kept as history
            raised = EngagementTerms(
                **{
                    c: getattr(terms, c)
                    for c in (
                        "org_id",
                        "engagement_id",
                        "budget_cap",
                        "hiring_manager_user_id",
                        "department_id",
                        "cost_centre_id",
                        "location_id",
                        "weekly_minutes",
                    )
                },
                effective_from=start + timedelta(days=(end - start).days // 2),
                rate=rate * Decimal("1.05"),
            )
            session.add(raised)
        if state == "ended" and index % 2 == 0:
            engagement.end_reason = "Project delivered"
            engagement.ended_by = "organization"
            engagement.notice_given_at = utcnow()
            session.add(
                PerformanceReview(
                    org_id=actor.org_id,
                    engagement_id=engagement.id,
                    freelancer_id=person.id,
                    rating=rng.choice([3, 4, 4, 5, 5]),
                    comment="Reliable, clear communication.",
                    reviewer_user_id=managers[index % 2],
                )
            )
        made += 1
    session.flush()
    return made


def _onboarding_checklists(session, actor, today, managers, units) -> None:
    """Every engagement in onboarding gets its checklist, at different stages (so
    compliance has reviews waiting and procurement engagements to activate), and the demo
    freelancer has one with open steps, so each persona's Overview shows real work."""
    from fms.demo import DEMO_FREELANCER_LOGIN
    from fms.workforce.models import OnboardingStep

    lena = session.scalar(select(Freelancer).where(Freelancer.email == DEMO_FREELANCER_LOGIN))
    has_onboarding = lena is not None and session.scalar(
        select(func.count(Engagement.id)).where(
            Engagement.freelancer_id == lena.id, Engagement.state == "onboarding"
        )
    )
    if lena is not None and not has_onboarding:
        start = today + timedelta(days=12)
        engagement = Engagement(
            org_id=actor.org_id,
            title="Grid forecasting data pipeline",
            kind="hourly",
            state="onboarding",
            freelancer_id=lena.id,
            supplier_id=lena.supplier_id,
            currency=lena.currency,
            po_number="PO-4500999",
            start_date=start,
            end_date=start + timedelta(days=180),
        )
        session.add(engagement)
        session.flush()
        session.add(
            EngagementTerms(
                org_id=actor.org_id,
                engagement_id=engagement.id,
                effective_from=start,
                rate=Decimal(95),
                budget_cap=Decimal(95 * 40 * 26),
                hiring_manager_user_id=managers[0],
                department_id=units[Department][0],
                cost_centre_id=units[CostCentre][0],
                location_id=units[Location][0],
                weekly_minutes=2400,
            )
        )
        audit.record(
            session, actor, "engagement.created", engagement, after={"state": "onboarding"}
        )
    with_steps = select(OnboardingStep.engagement_id)
    bare = session.scalars(
        select(Engagement)
        .where(Engagement.state == "onboarding", Engagement.id.not_in(with_steps))
        .order_by(Engagement.id)
    ).all()
    template = [(s.position, s.title, s.kind) for s in services.onboarding_template(session)]
    for number, engagement in enumerate(bare):
        is_lena = lena is not None and engagement.freelancer_id == lena.id
        # Lena has done her profile; others: nothing, everything of theirs, or all of it
        done_upto = 1 if is_lena else (0, 3, 4)[number % 3]
        for position, title, kind in template or rules.DEFAULT_ONBOARDING:
            done = position <= done_upto
            session.add(
                OnboardingStep(
                    org_id=actor.org_id,
                    engagement_id=engagement.id,
                    position=position,
                    title=title,
                    kind=kind,
                    done_at=utcnow() if done else None,
                    done_by_user_id=managers[0] if done else None,
                )
            )
    session.flush()


def _as_user(session, actor, users, email):
    from fms.identity.actor import Actor
    from fms.identity.models import Membership

    membership = session.scalar(select(Membership).where(Membership.user_id == users[email]))
    return Actor(
        user_id=users[email], org_id=actor.org_id, roles=frozenset(membership.roles), channel="cli"
    )


def _amendments_and_stand_in(session, actor, users, today) -> None:
    """A budget increase half-way through its chain (procurement approved, finance next) on
    one of manager@'s active engagements, another of hers ending in three weeks, and
    manager2@ standing in for manager@ next week."""
    from fms.workforce import delegations, engagements

    manager = _as_user(session, actor, users, "manager@northbridge.example")
    buyer = _as_user(session, actor, users, "procurement@northbridge.example")
    mine = session.scalars(
        select(Engagement)
        .join(EngagementTerms, EngagementTerms.engagement_id == Engagement.id)
        .where(
            Engagement.state == "active",
            Engagement.currency == "EUR",
            Engagement.end_date > today + timedelta(days=60),
            EngagementTerms.hiring_manager_user_id == manager.user_id,
        )
        .order_by(Engagement.id)
    ).first()
    ending = session.scalars(
        select(Engagement)
        .join(EngagementTerms, EngagementTerms.engagement_id == Engagement.id)
        .where(
            Engagement.state == "active",
            Engagement.end_date > today + timedelta(days=21),
            EngagementTerms.hiring_manager_user_id == manager.user_id,
            Engagement.id != (mine.id if mine is not None else 0),
        )
        .order_by(Engagement.end_date)
    ).first()
    if ending is not None:  # one of her people finishes in three weeks: decide, extend or let go
        ending.end_date = today + timedelta(days=21)
    if mine is not None:
        cap = engagements.terms_on(session, mine.id, today).budget_cap
        increase = engagements.request_amendment(
            session,
            actor=manager,
            engagement_id=mine.id,
            kind="budget_increase",
            effective_from=today,
            new_budget_cap=str(max(cap * 2, Decimal(60000))),
            reason="Scope grew: two more substations in the roll-out.",
        )
        engagements.decide_amendment(
            session, actor=buyer, amendment_id=increase.id, approve=True, comment="Agreed."
        )
    delegations.create_delegation(
        session,
        actor=manager,
        delegate_user_id=users["manager2@northbridge.example"],
        starts_on=today + timedelta(days=7),
        ends_on=today + timedelta(days=21),
        today=today,
        note="Annual leave",
    )


def _requisitions(session, actor, users, today, units) -> None:
    manager = _as_user(session, actor, users, "manager@northbridge.example")
    buyer = _as_user(session, actor, users, "procurement@northbridge.example")
    base = {
        "kind": "hourly",
        "weekly_minutes": 2400,
        "currency": "EUR",
        "rate_min": "80",
        "rate_max": "105",
        "department_id": units[Department][0],
        "cost_centre_id": units[CostCentre][0],
        "location_id": units[Location][0],
        "start_date": today + timedelta(days=30),
        "end_date": today + timedelta(days=210),
        "justification": "Backlog of the grid modernisation programme",
    }
    plans = [
        ("Draft: data quality analyst", "30000", None),
        ("Waiting for procurement: DevOps engineer", "45000", []),
        ("Waiting for finance: SAP architect", "120000", [(buyer, True)]),
        ("Approved: frontend engineer", "40000", [(buyer, True)]),
        ("Rejected: blockchain consultant", "60000", [(buyer, False)]),
        ("Cancelled: interim PMO lead", "35000", "cancel"),
    ]
    for title, budget, decisions in plans:
        req = requisitions.create_requisition(
            session, actor=manager, title=title, budget=budget, **base
        )
        if decisions is None:
            continue
        if decisions == "cancel":
            requisitions.cancel_requisition(session, actor=manager, requisition_id=req.id)
            continue
        requisitions.submit_requisition(session, actor=manager, requisition_id=req.id, today=today)
        for who, approve in decisions:
            requisitions.decide_step(
                session,
                actor=who,
                requisition_id=req.id,
                approve=approve,
                comment="" if approve else "No business case for this.",
                today=today,
            )

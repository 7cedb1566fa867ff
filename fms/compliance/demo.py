"""The demo organization's compliance: policies for its countries, the NDA and contract
texts, signed NDAs for the active engagements of the freelancers who sign in, a certificate
of insurance expiring soon, Lena's onboarding with items still to do and a high-risk
classification waiting for the compliance officer's decision.

Everything goes through the services (publish, sign with a real PDF, upload through
fms.storage, review, assess, sweep), so the audit log, the evidence and the notifications
are the real ones. Deterministic (the engagements chosen by id, dates relative to today)
and loaded once: a second run finds the policy and adds nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.compliance import classification, documents, rules, services, signing
from fms.compliance.models import PolicyItem
from fms.compliance.sweep import sweep
from fms.identity.actor import Actor
from fms.identity.models import Membership, User
from fms.workforce import engagements as workforce
from fms.workforce.models import Engagement, Freelancer

OFFICER_EMAIL = "compliance@northbridge.example"
# kind, country, requirement, validity, months
POLICY = [
    ("nda", "", "required", "none", None),
    ("contract", "", "required", "none", None),
    ("tax_form", "", "required", "months", 36),
    ("classification", "", "required", "none", None),
    ("insurance", "", "optional", "typed", None),
    ("insurance", "US", "required", "typed", None),
    ("right_to_work", "GB", "required", "typed", None),
    ("background_check", "US", "required", "months", 24),
]
NDA = (
    "Mutual non-disclosure agreement between {{ organization_name }} and "
    "{{ freelancer_name }} ({{ freelancer_email }}).\n\n"
    "For the engagement {{ engagement_title }}, from {{ start_date }} to {{ end_date }}, "
    "each party keeps the other's confidential information confidential, uses it only for "
    "the engagement, and returns or destroys it when the engagement ends.\n\n"
    "These duties last three years after the engagement ends. Signed on {{ signing_date }}."
)
CONTRACT = (
    "Statement of work between {{ organization_name }} and {{ freelancer_name }}.\n\n"
    "Engagement: {{ engagement_title }}, from {{ start_date }} to {{ end_date }}, at "
    "{{ rate }}. The freelancer decides how the work is done, uses their own equipment and "
    "may work for other clients.\n\n"
    "Either party may end the engagement with the notice the organization's settings state."
)
MANAGER_EMAIL = "manager@northbridge.example"
SIGNED_NDAS = 3  # active engagements of freelancers who sign in: enough to show, fast to make
EXPIRES_IN_DAYS = 20


def _actor(session: Session, org_id: int, user_id: int) -> Actor:
    roles = session.scalar(select(Membership.roles).where(Membership.user_id == user_id))
    return Actor(user_id=user_id, org_id=org_id, roles=frozenset(roles or ()), channel="cli")


def _png() -> bytes:
    from fms.timesheets.demo import receipt_png

    return receipt_png()


def load_compliance_demo(session: Session, *, actor: Actor, today: date) -> str:
    """Add the compliance demo once; returns a one-line summary."""
    if session.scalar(select(PolicyItem.id).limit(1)) is not None:
        return "Compliance demo already loaded."
    officer_id = session.scalar(select(User.id).where(User.email == OFFICER_EMAIL))
    if officer_id is None:
        return "Compliance demo skipped: no demo compliance officer."
    officer = _actor(session, actor.org_id, officer_id)
    for kind, country, requirement, validity, months in POLICY:
        services.set_policy_item(
            session,
            actor=officer,
            document_kind=kind,
            country=country,
            requirement=requirement,
            validity=validity,
            validity_months=months,
        )
    nda = signing.publish_template(
        session, actor=officer, kind="nda", title="Mutual non-disclosure agreement", body=NDA
    )
    signing.publish_template(
        session, actor=officer, kind="contract", title="Statement of work", body=CONTRACT
    )

    # signed NDAs: the active engagements of freelancers who sign in
    active = session.execute(
        select(Engagement, Freelancer)
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(
            Engagement.state == "active",
            Engagement.end_date > today + timedelta(days=EXPIRES_IN_DAYS + 10),
            Freelancer.user_id.is_not(None),
        )
        .order_by(Engagement.id)
    ).all()
    signed = 0
    for engagement, freelancer in active[:SIGNED_NDAS]:
        signing.sign(
            session,
            actor=_actor(session, actor.org_id, freelancer.user_id),
            engagement_id=engagement.id,
            kind="nda",
            typed_name=freelancer.legal_name,
            template_id=nda.id,
            user_agent="FMS demo",
        )
        signed += 1

    # a certificate of insurance that expires soon (the sweep warns of it)
    expiring = None
    if active:
        engagement, freelancer = active[0]
        document = documents.upload_document(
            session,
            actor=_actor(session, actor.org_id, freelancer.user_id),
            freelancer_id=freelancer.id,
            kind="insurance",
            filename="insurance-certificate.png",
            data=_png(),
        )
        documents.review_document(
            session,
            actor=officer,
            document_id=document.id,
            approve=True,
            expires_on=(today + timedelta(days=EXPIRES_IN_DAYS)).isoformat(),
        )
        expiring = freelancer.display_name

    # Lena's onboarding: the policy's steps to do, and a high-risk classification to decide
    from fms.demo import DEMO_FREELANCER_LOGIN

    lena = session.scalar(select(Freelancer).where(Freelancer.email == DEMO_FREELANCER_LOGIN))
    onboarding = None
    if lena is not None and lena.user_id is not None:
        onboarding = session.scalar(
            select(Engagement)
            .where(Engagement.freelancer_id == lena.id, Engagement.state == "onboarding")
            .order_by(Engagement.id)
            .limit(1)
        )
    if onboarding is not None:
        workforce.add_provided_steps(session, onboarding)
        jurisdiction = rules.jurisdictions_for(lena.country)[0]
        employee_way = {
            q["id"]: q["employee_if"]
            for q in classification.questionnaire(jurisdiction)["questions"]
        }
        classification.assess(
            session,
            actor=_actor(session, actor.org_id, lena.user_id),
            engagement_id=onboarding.id,
            jurisdiction=jurisdiction,
            answers=employee_way,
        )
    ending = _notice_on_one(session, actor, today)
    report = sweep(session, actor=actor, today=today)
    parts = [
        f"Compliance demo: policies for {len({c for _, c, *_ in POLICY if c}) + 1} scopes "
        f"(all countries, US, GB), NDA and contract texts, {signed} signed NDAs",
    ]
    if expiring:
        parts.append(
            f"{expiring}'s insurance expires in {EXPIRES_IN_DAYS} days ({report.notified} notified)"
        )
    if ending is not None:
        parts.append(
            f"{MANAGER_EMAIL} gave notice on “{ending.title}”: its offboarding checklist is open"
        )
    if onboarding is not None:
        parts.append(
            "Lena Fischer's onboarding waits for her signatures and tax form, and her "
            f"high-risk classification for {OFFICER_EMAIL}"
        )
    return "; ".join(parts) + "."


def _notice_on_one(session: Session, actor: Actor, today: date) -> Engagement | None:
    """The demo manager gives notice on the newest of their active engagements that has no
    timesheets, so an offboarding checklist is open (the workforce listener opens it)."""
    from fms.timesheets.models import Timesheet

    manager_id = session.scalar(select(User.id).where(User.email == MANAGER_EMAIL))
    if manager_id is None:
        return None
    last_day = today + timedelta(days=workforce.notice_period_days(session))
    candidates = session.scalars(
        select(Engagement)
        .where(
            Engagement.state == "active",
            Engagement.notice_given_at.is_(None),
            Engagement.end_date >= last_day,
            Engagement.id.not_in(select(Timesheet.engagement_id)),
        )
        .order_by(Engagement.id.desc())
    ).all()
    for engagement in candidates:
        terms = workforce.terms_on(session, engagement.id, today)
        if terms is not None and terms.hiring_manager_user_id == manager_id:
            return workforce.give_notice(
                session,
                actor=_actor(session, actor.org_id, manager_id),
                engagement_id=engagement.id,
                end_date=last_day.isoformat(),
                reason="The project phase was delivered early.",
                today=today,
            )
    return None

"""Worker classification: a questionnaire per jurisdiction, scored by the explainable model
in classification_factors.toml (rules.score), a compliance officer's decision on high risk,
and re-assessment before an engagement is amended."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.compliance import rules
from fms.compliance.models import Classification
from fms.compliance.services import (
    engagement_for,
    latest_classification,
    org_today,
    require_officer,
    settings,
    tick_step,
)
from fms.errors import InvalidInput, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.statemachine import transition
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.workforce.models import Engagement

CLASSIFICATION_TRANSITIONS: dict[str, set[str]] = {
    "decision_needed": {"accepted", "refused"},
    "assessed": set(),
    "accepted": set(),
    "refused": set(),
}
ASSESSABLE_STATES = ("approved", "onboarding", "active")
# amendments that change what the relationship is, and so ask for a fresh assessment
REASSESS_ON = ("extension", "rate_change", "budget_increase")
MAX_RATIONALE = 4000


def questionnaire(jurisdiction: str) -> dict:
    """The questions of a jurisdiction (for the page), with its label and sources."""
    model = rules.factors()["jurisdictions"].get(jurisdiction)
    if model is None:
        raise NotFound("No such questionnaire.")
    return model


def assess(
    session: Session, *, actor: Actor, engagement_id, jurisdiction: str, answers: dict
) -> Classification:
    """Answer the questionnaire for an engagement (the freelancer, or a compliance officer).

    The jurisdiction must fit the freelancer's country (rules.jurisdictions_for; "generic"
    anywhere); every question is answered yes or no. Low and medium risk are settled; high
    risk waits for a compliance officer's decision and holds activation back; until then
    nobody answers again (answering differently must not escape the decision), and after
    a refusal only a compliance officer records a new assessment."""
    engagement, freelancer = engagement_for(session, actor, engagement_id, officers_too=True)
    if engagement.state not in ASSESSABLE_STATES:
        raise InvalidInput("This engagement is not open for assessment.")
    allowed = set(rules.jurisdictions_for(freelancer.country)) | {"generic"}
    if jurisdiction not in allowed:
        raise InvalidInput(
            "Choose a questionnaire for the freelancer's country.",
            errors={"jurisdiction": [f"One of: {', '.join(sorted(allowed))}."]},
        )
    latest = latest_classification(session, engagement.id)
    if latest is not None and latest.state == "decision_needed":
        raise RuleViolation("A high-risk assessment waits for compliance's decision.")
    if latest is not None and latest.state == "refused" and not actor.can("compliance.manage"):
        raise RuleViolation("Compliance refused this engagement's classification.")
    answers = {str(k): v for k, v in (answers or {}).items()}
    try:
        result = rules.score(jurisdiction, answers)
    except ValueError as exc:
        raise InvalidInput(
            "Answer every question yes or no.", errors={str(exc): ["Yes or no."]}
        ) from None
    known = {q["id"] for q in questionnaire(jurisdiction)["questions"]}
    classification = Classification(
        org_id=engagement.org_id,
        engagement_id=engagement.id,
        jurisdiction=jurisdiction,
        model_version=rules.factors()["version"],
        answers={k: v for k, v in answers.items() if k in known},
        score=result.score,
        risk=result.risk,
        drivers=result.drivers,
        state="decision_needed" if result.risk == "high" else "assessed",
        assessed_by_user_id=actor.user_id,
        assessed_at=utcnow(),
    )
    session.add(classification)
    session.flush()
    audit.record(
        session,
        actor,
        "classification.assessed",
        classification,
        after={
            "engagement_id": engagement.id,
            "jurisdiction": jurisdiction,
            "score": result.score,
            "risk": result.risk,
            "drivers": [d["question"] for d in result.drivers],
        },
    )
    if classification.state == "assessed":
        tick_step(session, actor=actor, engagement_id=engagement.id, kind="classification")
    return classification


def decide(
    session: Session, *, actor: Actor, classification_id, accept: bool, rationale: str
) -> Classification:
    """A compliance officer decides a high-risk classification, always with a rationale:
    accepting lets the engagement go ahead as a contractor engagement; refusing keeps it
    from becoming active. Decided once; a second decision at the same time loses."""
    require_officer(actor)
    classification = get_in_org(session, Classification, classification_id, what="classification")
    rationale = (rationale or "").strip()
    if not rationale or len(rationale) > MAX_RATIONALE:
        raise InvalidInput(
            "Record the rationale of the decision.",
            errors={"rationale": [f"Required, at most {MAX_RATIONALE} characters."]},
        )
    transition(
        session,
        classification,
        to="accepted" if accept else "refused",
        table=CLASSIFICATION_TRANSITIONS,
        actor=actor,
        label="classification",
        values={
            "decided_by_user_id": actor.user_id,
            "decided_at": utcnow(),
            "rationale": rationale,
        },
        after={"engagement_id": classification.engagement_id, "rationale": rationale},
    )
    if accept:
        tick_step(
            session, actor=actor, engagement_id=classification.engagement_id, kind="classification"
        )
    return classification


def reassessment_needed(
    session: Session, engagement: Engagement, kind: str, effective_from: date
) -> str | None:
    """An amendment guard: an extension, rate change or budget increase of an engagement that
    was classified needs a classification answered within the organization's
    `reassess_within_days` (default 30) and not waiting for or refused a decision."""
    if kind not in REASSESS_ON:
        return None
    latest = latest_classification(session, engagement.id)
    if latest is None:
        return None
    today = org_today(session, engagement.org_id)
    days = settings(session).reassess_within_days
    if latest.state == "decision_needed":
        return "The worker classification is high risk and waits for compliance's decision."
    if latest.state == "refused":
        return "Compliance refused the worker classification; the engagement cannot be changed."
    if latest.assessed_at.date() < today - timedelta(days=days):
        return (
            "Re-assess the worker classification first: a change of dates or money needs "
            f"an assessment from the last {days} days."
        )
    return None

"""Reads the compliance pages will show: the reviewers' queue, decisions waiting, and
engagements by compliance status. Aggregation in SQL; no writes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.compliance import rules
from fms.compliance.models import Classification, ComplianceDocument, EngagementCompliance
from fms.compliance.services import managers_on, policy_rows
from fms.identity.actor import Actor
from fms.workforce.models import Engagement, Freelancer

EXPIRING_WITHIN_DAYS = 30


@dataclass(frozen=True)
class QueueRow:
    document_id: int
    kind: str
    label: str
    version: int
    freelancer_id: int
    freelancer_name: str
    uploaded_at: object


# the review queue page lists this many, oldest first
QUEUE_PAGE = 200


def _reviewable(session: Session, actor: Actor):
    """Documents waiting for review that the actor's roles review, oldest first (the role
    each policy item names; compliance where none names one), with their freelancer. Their
    own uploads are left out: nobody reviews what they uploaded."""
    rows = policy_rows(session)
    for document, freelancer in session.execute(
        select(ComplianceDocument, Freelancer)
        .join(Freelancer, Freelancer.id == ComplianceDocument.freelancer_id)
        .where(ComplianceDocument.state == "pending_review")
        .order_by(ComplianceDocument.uploaded_at, ComplianceDocument.id)
    ):
        if document.uploaded_by_user_id == actor.user_id:
            continue
        role = rules.reviewer_role(rows, country=freelancer.country, kind=document.kind)
        if role in actor.roles:  # the policy names a role that reviews, not a permission
            yield document, freelancer


def review_queue(session: Session, *, actor: Actor, limit: int | None = None) -> list[QueueRow]:
    """The oldest `limit` (QUEUE_PAGE) documents the actor reviews (see _reviewable)."""
    limit = limit or QUEUE_PAGE
    out = []
    for document, freelancer in _reviewable(session, actor):
        out.append(
            QueueRow(
                document.id,
                document.kind,
                rules.DOCUMENT_KINDS[document.kind][0],
                document.version,
                freelancer.id,
                freelancer.display_name,
                document.uploaded_at,
            )
        )
        if len(out) >= limit:
            break
    return out


def review_queue_size(session: Session, *, actor: Actor) -> int:
    """How many documents wait for the actor's review, all of them (the queue page shows
    the oldest QUEUE_PAGE)."""
    return sum(1 for _ in _reviewable(session, actor))


def decisions_waiting(session: Session, *, actor: Actor) -> list[Classification]:
    """High-risk classifications waiting for a compliance officer, oldest first."""
    if not actor.can("compliance.manage"):
        return []
    return list(
        session.scalars(
            select(Classification)
            .where(Classification.state == "decision_needed")
            .order_by(Classification.assessed_at, Classification.id)
        )
    )


def status_counts(session: Session, *, today: date) -> dict[str, int]:
    """Active engagements by compliance status: non-compliant (the sweep found a lapsed
    required document), expiring (an approved document of the freelancer expires within 30
    days), awaiting review (a document of the freelancer waits for review), compliant."""
    active = session.execute(
        select(Engagement.id, Engagement.freelancer_id).where(Engagement.state == "active")
    ).all()
    non_compliant = set(
        session.scalars(
            select(EngagementCompliance.engagement_id).where(
                EngagementCompliance.state == "non_compliant"
            )
        )
    )
    expiring = set(
        session.scalars(
            select(ComplianceDocument.freelancer_id).where(
                ComplianceDocument.state == "approved",
                ComplianceDocument.expires_on >= today,
                ComplianceDocument.expires_on <= today + timedelta(days=EXPIRING_WITHIN_DAYS),
            )
        )
    )
    waiting = set(
        session.scalars(
            select(ComplianceDocument.freelancer_id).where(
                ComplianceDocument.state == "pending_review"
            )
        )
    )
    counts = Counter({"compliant": 0, "expiring": 0, "awaiting_review": 0, "non_compliant": 0})
    for engagement_id, freelancer_id in active:
        if engagement_id in non_compliant:
            counts["non_compliant"] += 1
        elif freelancer_id in waiting:
            counts["awaiting_review"] += 1
        elif freelancer_id in expiring:
            counts["expiring"] += 1
        else:
            counts["compliant"] += 1
    return dict(counts)


def risk_distribution(session: Session) -> dict[str, int]:
    """The latest classification of each engagement, counted by risk."""
    latest = {}
    for engagement_id, risk in session.execute(
        select(Classification.engagement_id, Classification.risk).order_by(Classification.id)
    ):
        latest[engagement_id] = risk
    counts = Counter({risk: 0 for risk in rules.RISKS})
    counts.update(latest.values())
    return dict(counts)


@dataclass(frozen=True)
class OffboardingRow:
    step_id: int
    engagement_id: int
    engagement_title: str
    title: str
    party: str
    end_date: date


def offboarding_to_do(session: Session, *, actor: Actor, today: date) -> list[OffboardingRow]:
    """The open offboarding items the actor ticks, by the engagement's last day: their own
    as the freelancer, the hiring manager's of the engagements they manage (on the last day
    once it has passed; their stand-ins see them on the engagement's page), compliance's
    for compliance officers. Two statements whatever their number."""
    from fms.compliance.models import OffboardingStep

    rows = session.execute(
        select(OffboardingStep, Engagement, Freelancer.user_id)
        .join(Engagement, Engagement.id == OffboardingStep.engagement_id)
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(OffboardingStep.done_at.is_(None))
        .order_by(Engagement.end_date, Engagement.id, OffboardingStep.position)
    ).all()
    managed_ids = {e.id for step, e, _ in rows if step.party == "hiring_manager"}
    managers: dict[int, int | None] = {}
    if managed_ids and (actor.can("engagements.end") or actor.can("engagements.manage")):
        last_days = {e.id: min(today, e.end_date) for _, e, _ in rows}
        managers = managers_on(session, list(managed_ids), last_days)
    officer = actor.can("compliance.manage")
    out = []
    for step, engagement, owner in rows:
        mine = (
            (step.party == "freelancer" and owner is not None and owner == actor.user_id)
            or (step.party == "hiring_manager" and managers.get(engagement.id) == actor.user_id)
            or (step.party == "compliance" and officer)
        )
        if mine:
            out.append(
                OffboardingRow(
                    step.id,
                    engagement.id,
                    engagement.title,
                    step.title,
                    step.party,
                    engagement.end_date,
                )
            )
    return out

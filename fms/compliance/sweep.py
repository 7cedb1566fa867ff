"""The daily compliance sweep (`flask fms compliance sweep`), per organization.

1. Approved documents past their expiry date become expired.
2. Documents expiring in 30, 14 or 7 days, and tenure limits 90, 60 or 30 days away,
   notify the freelancer and the engagement's hiring manager.
3. Active engagements with an expired required document become non-compliant (and
   compliant again once a current one is approved); under the "block" setting they cannot
   submit timesheets (services.submission_block).

Safe to run twice: notifications carry dedupe keys (one per document or engagement,
threshold and date), and statuses only change when they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fms.compliance import rules, services, tenure
from fms.compliance.documents import expire_documents
from fms.compliance.models import ComplianceDocument
from fms.identity.actor import Actor
from fms.notifications.kinds import register_kind
from fms.notifications.services import notify
from fms.workforce.models import Engagement, Freelancer

register_kind(
    "compliance.document_expiring",
    label="A compliance document expires soon",
    default="mail",
    description="30, 14 and 7 days before a freelancer's document expires: for the freelancer "
    "and their hiring managers.",
)
register_kind(
    "compliance.tenure_warning",
    label="A freelancer reaches the tenure limit soon",
    default="mail",
    description="90, 60 and 30 days before the limit: for the freelancer and the hiring manager.",
)
register_kind(
    "compliance.non_compliant",
    label="An engagement became non-compliant",
    default="mail",
    description="When a required document has expired.",
)


@dataclass
class SweepReport:
    expired: int = 0
    notified: int = 0
    non_compliant: int = 0
    compliant_again: int = 0
    details: list[str] = field(default_factory=list)


def _manager(session: Session, engagement: Engagement, today: date) -> int | None:
    from fms.workforce.engagements import terms_on

    terms = terms_on(session, engagement.id, today)
    return terms.hiring_manager_user_id if terms else None


def _people(session: Session, engagement: Engagement, today: date) -> list[int]:
    freelancer = session.scalar(select(Freelancer).where(Freelancer.id == engagement.freelancer_id))
    return [
        u
        for u in (freelancer.user_id if freelancer else None, _manager(session, engagement, today))
        if u
    ]


def sweep(session: Session, *, actor: Actor, today: date) -> SweepReport:
    """Run the sweep for the actor's organization on `today` (see the module's text)."""
    report = SweepReport()
    org_id = actor.org_id
    report.expired = expire_documents(session, actor=actor, today=today)
    active = session.scalars(
        select(Engagement).where(Engagement.state == "active").order_by(Engagement.id)
    ).all()

    # documents expiring soon: tell the freelancer and the managers of their active work
    by_freelancer: dict[int, list[Engagement]] = {}
    for engagement in active:
        by_freelancer.setdefault(engagement.freelancer_id, []).append(engagement)
    expiring = session.scalars(
        select(ComplianceDocument).where(
            ComplianceDocument.state == "approved",
            ComplianceDocument.expires_on.is_not(None),
            ComplianceDocument.expires_on >= today,
        )
    ).all()
    # a document already renewed by a later approved version needs no warning
    newest_approved = {
        (freelancer_id, kind): version
        for freelancer_id, kind, version in session.execute(
            select(
                ComplianceDocument.freelancer_id,
                ComplianceDocument.kind,
                func.max(ComplianceDocument.version),
            )
            .where(ComplianceDocument.state == "approved")
            .group_by(ComplianceDocument.freelancer_id, ComplianceDocument.kind)
        )
    }
    for document in expiring:
        if newest_approved.get((document.freelancer_id, document.kind), 0) > document.version:
            continue
        threshold = rules.warning_due(
            (document.expires_on - today).days, rules.DOCUMENT_WARNING_DAYS
        )
        if threshold is None:
            continue
        freelancer = session.scalar(
            select(Freelancer).where(Freelancer.id == document.freelancer_id)
        )
        people = {freelancer.user_id} if freelancer.user_id else set()
        for engagement in by_freelancer.get(document.freelancer_id, []):
            people.add(_manager(session, engagement, today))
        label = rules.DOCUMENT_KINDS[document.kind][0]
        report.notified += len(
            notify(
                session,
                org_id=org_id,
                user_ids=people,
                kind="compliance.document_expiring",
                title=f"{label} of {freelancer.display_name} expires on "
                f"{document.expires_on.isoformat()}",
                body="Upload a current version so that compliance can review it before then.",
                dedupe_key=f"compliance.document_expiring:{document.id}:{threshold}",
            )
        )

    for engagement in active:
        # tenure limits coming up
        span = tenure.tenure_of(session, engagement)
        if span is not None:
            threshold = rules.warning_due((span.limit - today).days, rules.TENURE_WARNING_DAYS)
            if threshold is not None:
                report.notified += len(
                    notify(
                        session,
                        org_id=org_id,
                        user_ids=_people(session, engagement, today),
                        kind="compliance.tenure_warning",
                        title=f"“{engagement.title}”: the {span.max_months}-month tenure limit "
                        f"is reached on {span.limit.isoformat()}",
                        body="An extension past that day needs a compliance override.",
                        dedupe_key=f"compliance.tenure:{engagement.id}:"
                        f"{span.limit.isoformat()}:{threshold}",
                    )
                )
        # compliance status
        problem = services.compliance_problem(session, engagement, today=today)
        if services.set_status(session, actor=actor, engagement=engagement, problem=problem):
            if problem:
                report.non_compliant += 1
                report.notified += len(
                    notify(
                        session,
                        org_id=org_id,
                        user_ids=_people(session, engagement, today),
                        kind="compliance.non_compliant",
                        title=f"“{engagement.title}” is not compliant: {problem}",
                        body="Upload a current document; compliance reviews it.",
                        dedupe_key=f"compliance.non_compliant:{engagement.id}:{today.isoformat()}",
                    )
                )
            else:
                report.compliant_again += 1
    return report

"""What workforce tells people through the inbox: approvals waiting for them, and their
engagements about to end. Notifications is plumbing below workforce (DESIGN.md): this
module uses it; it never calls back."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import String, and_, cast, select
from sqlalchemy.orm import Session

from fms.identity.models import Membership
from fms.identity.permissions import ROLES
from fms.notifications.kinds import register_kind, register_reminder
from fms.notifications.services import notify, path_for, settle
from fms.workforce.models import (
    Amendment,
    ApprovalStep,
    Engagement,
    EngagementTerms,
    Requisition,
)
from fms.workforce.queries import terms_in_effect

ENDING_WITHIN_DAYS = 30

register_kind(
    "requisition.waiting",
    label="A requisition waits for your approval",
    default="mail",
    description="When a requisition reaches an approval step for one of your roles.",
)
register_kind(
    "amendment.waiting",
    label="An amendment waits for your approval",
    default="mail",
    description="When a change to an engagement reaches an approval step for one of your roles.",
)
register_kind(
    "engagement.ending",
    label="Your engagement ends in 30 days",
    default="mail",
    description="Once per engagement and end date, for its hiring manager.",
)


def _holders_of(session: Session, role: str) -> list[int]:
    # roles is a JSON list: its text form holds the role in quotes on both databases
    return list(
        session.scalars(
            select(Membership.user_id).where(
                Membership.is_active.is_(True),
                cast(Membership.roles, String).like(f'%"{role}"%'),
            )
        )
    )


def step_pending(session: Session, step: ApprovalStep) -> None:
    """Tell the active members holding the step's role that it waits for them (once per
    step); the requester, who may not decide, is left out."""
    role_name = ROLES.get(step.role, step.role).lower()
    body = f"Step {step.position}, {step.label}: anyone with the {role_name} role may decide it."
    if step.requisition_id is not None:
        req = session.get(Requisition, step.requisition_id)
        requester = req.requester_user_id
        kind = "requisition.waiting"
        title = f"Requisition REQ-{req.id} “{req.title}” waits for your approval"
        body = (
            f"Step {step.position}, {step.label}: anyone with the {role_name} role may decide it."
        )
        url = path_for("workforce.requisitions.show", requisition_id=req.id)
    else:
        amendment = session.get(Amendment, step.amendment_id)
        engagement = session.get(Engagement, amendment.engagement_id)
        requester = amendment.requested_by_user_id
        kind = "amendment.waiting"
        what = amendment.kind.replace("_", " ")
        title = f"An amendment ({what}) of “{engagement.title}” waits for your approval"
        body = (
            f"Step {step.position}, {step.label}: anyone with the {role_name} role may decide it."
        )
        url = path_for("workforce.engagements.show", engagement_id=engagement.id) + "#amendments"
    recipients = [u for u in _holders_of(session, step.role) if u != requester]
    notify(
        session,
        org_id=step.org_id,
        user_ids=recipients,
        kind=kind,
        title=title,
        body=body,
        url=url,
        dedupe_key=f"approval_step:{step.id}",  # steps_closed() settles the same key
    )


def steps_closed(session: Session, *, org_id: int, step_ids) -> None:
    """Decided or skipped steps wait for nobody any more: their notifications are read."""
    settle(session, org_id=org_id, dedupe_keys=[f"approval_step:{i}" for i in step_ids])


def remind_ending(session: Session, *, org_id: int, today: date) -> int:
    """Hiring managers hear once per engagement and end date that it ends within 30 days;
    an extension (a new end date) arms the reminder again."""
    rows = session.execute(
        select(
            Engagement.id,
            Engagement.title,
            Engagement.end_date,
            EngagementTerms.hiring_manager_user_id,
        )
        .join(EngagementTerms, and_(terms_in_effect(today)))
        .where(
            Engagement.org_id == org_id,
            Engagement.state == "active",
            Engagement.end_date >= today,
            Engagement.end_date <= today + timedelta(days=ENDING_WITHIN_DAYS),
        )
        .order_by(Engagement.end_date, Engagement.id)
    ).all()
    sent = 0
    for engagement_id, title, end_date, manager_id in rows:
        days = (end_date - today).days
        sent += len(
            notify(
                session,
                org_id=org_id,
                user_ids=[manager_id],
                kind="engagement.ending",
                title=f"“{title}” ends on {end_date.isoformat()}"
                + (" (today)" if days == 0 else f" (in {days} day{'' if days == 1 else 's'})"),
                body="Extend it with an amendment, or let it end; the freelancer's access "
                "ends with it.",
                url=path_for("workforce.engagements.show", engagement_id=engagement_id),
                dedupe_key=f"engagement.ending:{engagement_id}:{end_date.isoformat()}",
            )
        )
    return sent


register_reminder("workforce.engagement_ending", remind_ending)

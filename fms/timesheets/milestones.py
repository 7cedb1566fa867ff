"""Milestones of fixed-fee engagements: a deliverable with its agreed amount, delivered by
the freelancer, accepted or sent back (with a comment) by the reviewer, exactly once."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import InvalidInput, NotAllowed, RuleViolation
from fms.identity.actor import Actor
from fms.statemachine import transition
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.timesheets import rules
from fms.timesheets.models import Milestone
from fms.timesheets.services import (
    amount_in,
    comment_in,
    date_in,
    decide,
    engagement_of,
    own_engagement,
    text_in,
)
from fms.workforce.engagements import acts_for
from fms.workforce.models import Engagement


def create_milestone(
    session: Session, *, actor: Actor, engagement_id, title, amount, due_date
) -> Milestone:
    """Procurement (or the engagement's manager) sets a fixed-fee engagement's deliverable
    with its amount in the engagement's currency, due within the engagement's dates."""
    engagement = get_in_org(session, Engagement, engagement_id, what="engagement")
    if not acts_for(session, actor, engagement, engagement.start_date):
        raise NotAllowed("Procurement or the engagement's manager sets milestones.")
    if engagement.kind != "fixed":
        raise RuleViolation("Milestones belong to fixed-fee engagements.")
    title = text_in(title, limit=200, name="title", required=True)
    due = date_in(due_date, "due_date")
    if not engagement.start_date <= due <= engagement.end_date:
        raise InvalidInput("Due within the engagement's dates.", errors={"due_date": ["Dates."]})
    value = amount_in(amount, engagement.currency)
    row = Milestone(
        org_id=engagement.org_id,
        engagement_id=engagement.id,
        title=title,
        amount=value,
        currency=engagement.currency,
        due_date=due,
        state="draft",
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "milestone.created", row, after={"title": title, "amount": value})
    return row


def deliver_milestone(session: Session, *, actor: Actor, milestone_id) -> Milestone:
    """The freelancer marks their milestone delivered (again, after it was sent back)."""
    row = get_in_org(session, Milestone, milestone_id, what="milestone")
    engagement = own_engagement(session, actor, row.engagement_id)
    if engagement.state != "active":
        raise RuleViolation("Active engagement: deliver while the engagement is active.")
    if row.state == "sent_back":
        transition(session, row, to="draft", table=rules.MILESTONE_TRANSITIONS, actor=actor)
    return transition(
        session,
        row,
        to="delivered",
        table=rules.MILESTONE_TRANSITIONS,
        actor=actor,
        values={"delivered_at": utcnow()},
    )


def decide_milestone(
    session: Session, *, actor: Actor, milestone_id, accept: bool, comment=None
) -> Milestone:
    """The reviewer (manager on the due date, their delegate, or procurement) accepts a
    delivered milestone or sends it back with a comment (required); exactly once."""
    row = get_in_org(session, Milestone, milestone_id, what="milestone")
    engagement = engagement_of(session, row.engagement_id)
    day = min(max(row.due_date, engagement.start_date), engagement.end_date)
    if not acts_for(session, actor, engagement, day):
        raise NotAllowed("The engagement's manager, their delegate or procurement decides.")
    comment = comment_in(comment, not accept)
    return decide(
        session,
        row,
        to="accepted" if accept else "sent_back",
        table=rules.MILESTONE_TRANSITIONS,
        actor=actor,
        comment=comment,
        label="milestone",
        source="delivered",
    )

"""Milestones of fixed-fee engagements: a deliverable with its agreed amount, delivered by
the freelancer, accepted or sent back (with a comment) by the reviewer, exactly once.

Who sets and decides them is the engagement's manager on the day they act (the terms in
effect on the organization's today), a delegate that manager named for that day, or
procurement. A delivered or accepted milestone counts against the budget cap."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms.audit import services as audit
from fms.errors import InvalidInput, NotAllowed, RuleViolation
from fms.identity.actor import Actor
from fms.statemachine import lock, transition
from fms.storage import StoredFile, uploaded_by
from fms.tenancy import get_in_org
from fms.timekeeping import utcnow
from fms.timesheets import notices, pricing, rules
from fms.timesheets.models import Milestone
from fms.timesheets.services import (
    acting_day,
    amount_in,
    check_added_item,
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
    session: Session,
    *,
    actor: Actor,
    engagement_id,
    title,
    amount,
    due_date,
    today: date | None = None,
) -> Milestone:
    """Procurement (or the engagement's manager today, or their delegate today) sets a
    fixed-fee engagement's deliverable with its amount in the engagement's currency, due
    within the engagement's dates."""
    engagement = get_in_org(session, Engagement, engagement_id, what="engagement")
    if not acts_for(session, actor, engagement, acting_day(session, actor, today)):
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


def _check_cap(session, actor, engagement, row, today) -> list[str]:
    return check_added_item(
        session,
        actor,
        engagement,
        item=pricing.milestone_item(row),
        today=today,
        what="this milestone",
        besides_milestone=row.id,
    )


def attach_deliverable(session: Session, *, actor: Actor, milestone_id, file_id) -> Milestone:
    """The freelancer attaches the deliverable (a file they uploaded through fms.storage) to
    their milestone before delivering it — while it is a draft or was sent back; once
    delivered or accepted, what was delivered stays as it was reviewed."""
    row = get_in_org(session, Milestone, milestone_id, what="milestone")
    own_engagement(session, actor, row.engagement_id)
    lock(session, row)  # a delivery at the same moment waits, then is seen here
    if row.state not in ("draft", "sent_back"):
        state = row.state.replace("_", " ")
        raise RuleViolation(f"This milestone is {state}: its deliverable can no longer change.")
    stored = uploaded_by(session, file_id, user_id=actor.user_id, field="file")
    before = row.attachment_file_id
    row.attachment_file_id = stored.id
    session.flush()
    audit.record(
        session,
        actor,
        "milestone.deliverable_attached",
        row,
        before={"attachment_file_id": before},
        after={"attachment_file_id": stored.id, "sha256": stored.sha256},
    )
    return row


def deliverable_of(session: Session, milestone: Milestone) -> StoredFile | None:
    """The stored file of a milestone's deliverable (the caller checked the viewer may see
    the milestone), or None."""
    if milestone.attachment_file_id is None:
        return None
    return session.scalar(select(StoredFile).where(StoredFile.id == milestone.attachment_file_id))


def deliver_milestone(
    session: Session, *, actor: Actor, milestone_id, today: date | None = None
) -> Milestone:
    """The freelancer marks their milestone delivered (again, after it was sent back); its
    amount stays within the budget cap (engagement row locked)."""
    row = get_in_org(session, Milestone, milestone_id, what="milestone")
    engagement = own_engagement(session, actor, row.engagement_id)
    if engagement.state != "active":
        raise RuleViolation("Active engagement: deliver while the engagement is active.")
    if row.state not in ("draft", "sent_back"):
        raise RuleViolation(f"This milestone is {row.state.replace('_', ' ')} already.")
    _check_cap(session, actor, engagement, row, acting_day(session, actor, today))
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
    session: Session,
    *,
    actor: Actor,
    milestone_id,
    accept: bool,
    comment=None,
    today: date | None = None,
) -> Milestone:
    """The reviewer (the engagement's manager today, their delegate today, or procurement)
    accepts a delivered milestone — within the budget cap in effect — or sends it back with
    a comment (required); exactly once."""
    row = get_in_org(session, Milestone, milestone_id, what="milestone")
    engagement = engagement_of(session, row.engagement_id)
    day = acting_day(session, actor, today)
    if not acts_for(session, actor, engagement, day):
        raise NotAllowed("The engagement's manager, their delegate or procurement decides.")
    comment = comment_in(comment, not accept)
    if accept and row.state == "delivered":
        _check_cap(session, actor, engagement, row, day)
    decide(
        session,
        row,
        to="accepted" if accept else "sent_back",
        table=rules.MILESTONE_TRANSITIONS,
        actor=actor,
        comment=comment,
        label="milestone",
        source="delivered",
    )
    notices.item_decided(
        session,
        row=row,
        what=f"milestone “{row.title}”",
        freelancer_id=engagement.freelancer_id,
        state=row.state,
    )
    return row

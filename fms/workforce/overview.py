"""Workforce's items for the Overview: what waits on each role, and what needs attention.

Registered with Reports' overview hook by the app factory (workforce never imports Reports).
Each block runs one aggregate statement for a role the actor holds, so the number of
statements is fixed whatever the number of requisitions, engagements or steps.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import url_for
from sqlalchemy import and_, case, exists, func, select, union
from sqlalchemy.orm import Session

from fms.identity.models import Organization
from fms.identity.permissions import APPROVER_ROLES
from fms.overview import ATTENTION, SUMMARY, OverviewItem, summary
from fms.workforce.models import (
    Amendment,
    ApprovalStep,
    Engagement,
    EngagementTerms,
    ExchangeRate,
    Freelancer,
    OnboardingStep,
    PerformanceReview,
    Requisition,
)
from fms.workforce.queries import terms_in_effect, waiting_for
from fms.workforce.rules import FREELANCER_STEP_KINDS

ENDING_WITHIN_DAYS = 30
# an engagement still onboarding this close to its start (or after it) is stuck
STUCK_WITHIN_DAYS = 7
# reviews are asked for engagements that ended in the last 90 days
REVIEW_WINDOW_DAYS = 90
OPEN_STATES = ("pending_approval", "approved", "onboarding", "active")


def items(session: Session, *, actor, today: date) -> list[OverviewItem]:
    """The actor's workforce items, for each role they hold."""
    roles = actor.roles
    out: list[OverviewItem] = []
    if roles & set(APPROVER_ROLES):
        out += _approvals(session, actor)
    if "procurement" in roles:
        out += _procurement(session, today)
    if roles & {"procurement", "compliance"}:
        out += _onboarding_checks(session, roles)
    if "hiring_manager" in roles and actor.user_id is not None:
        out += _hiring_manager(session, actor, today)
    if "finance" in roles:
        out += _finance(session, actor, today)
    if "freelancer" in roles and actor.user_id is not None:
        out += _freelancer(session, actor, today)
    return out


def _sum(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# --- approvers: procurement, finance, org admins -------------------------------------------


def _approvals(session: Session, actor) -> list[OverviewItem]:
    """Requisitions and amendments whose current step is one of the actor's roles."""
    requisitions = waiting_for(session, actor)
    current = (
        select(ApprovalStep.amendment_id, func.min(ApprovalStep.position).label("position"))
        .join(Amendment, Amendment.id == ApprovalStep.amendment_id)
        .where(ApprovalStep.state == "pending", Amendment.state == "pending")
        .group_by(ApprovalStep.amendment_id)
        .subquery()
    )
    amendments, oldest = session.execute(
        select(func.count(ApprovalStep.id), func.min(Amendment.engagement_id))
        .join(
            current,
            (current.c.amendment_id == ApprovalStep.amendment_id)
            & (current.c.position == ApprovalStep.position),
        )
        .join(Amendment, Amendment.id == ApprovalStep.amendment_id)
        .where(
            ApprovalStep.role.in_(sorted(actor.roles)),
            Amendment.requested_by_user_id.is_distinct_from(actor.user_id),
        )
    ).one()
    steps = ", ".join(r.replace("_", " ") for r in APPROVER_ROLES if r in actor.roles)
    out = [
        OverviewItem(
            key="workforce.requisitions_to_decide",
            title="Requisitions to decide",
            count=requisitions,
            url=url_for("workforce.requisitions.index", view="waiting"),
            detail=f"Waiting on your {steps} step",
            tone="warning",
        )
    ]
    if amendments:
        out.append(
            OverviewItem(
                key="workforce.amendments_to_decide",
                title="Amendments to decide",
                count=amendments,
                url=url_for("workforce.engagements.show", engagement_id=oldest) + "#amendments",
                detail="Rate, end date, budget or manager changes; the oldest engagement first",
                tone="warning",
            )
        )
    return out


# --- procurement ---------------------------------------------------------------------------


def _procurement(session: Session, today: date) -> list[OverviewItem]:
    extension_asked = exists().where(
        Amendment.engagement_id == Engagement.id,
        Amendment.state == "pending",
        Amendment.kind == "extension",
    )
    row = session.execute(
        select(
            _sum(
                and_(
                    Engagement.state == "active",
                    Engagement.end_date >= today,
                    Engagement.end_date <= today + timedelta(days=ENDING_WITHIN_DAYS),
                    Engagement.notice_given_at.is_(None),
                    ~extension_asked,
                )
            ),
            _sum(
                and_(
                    Engagement.state == "onboarding",
                    Engagement.start_date <= today + timedelta(days=STUCK_WITHIN_DAYS),
                )
            ),
            _sum(Engagement.state == "pending_approval"),
            _sum(Engagement.state == "approved"),
            _sum(Engagement.state == "onboarding"),
            _sum(Engagement.state == "active"),
        )
    ).one()
    ending, stuck, to_approve, approved, onboarding, active = (int(v) for v in row)
    engagements = "workforce.engagements.index"
    return [
        OverviewItem(
            key="workforce.engagements_to_approve",
            title="Engagements to approve",
            count=to_approve,
            url=url_for(engagements, state="pending_approval"),
            detail="Contracts submitted for procurement's decision",
            tone="warning",
        ),
        OverviewItem(
            key="workforce.onboarding_to_start",
            title="Approved engagements to start onboarding",
            count=approved,
            url=url_for(engagements, state="approved"),
            detail="Invite the freelancer and open the checklist",
        ),
        OverviewItem(
            key="workforce.ending_undecided",
            title="Engagements ending without a decision",
            count=ending,
            url=url_for("workforce.headcount.index") + "#ending-soon",
            detail=f"Within {ENDING_WITHIN_DAYS} days, no notice given and no extension asked",
            section=ATTENTION,
            tone="warning",
        ),
        OverviewItem(
            key="workforce.onboarding_stuck",
            title="Onboarding stuck",
            count=stuck,
            url=url_for(engagements, state="onboarding"),
            detail=f"Still onboarding {STUCK_WITHIN_DAYS} days before the start date, or after it",
            section=ATTENTION,
            tone="danger",
        ),
        *summary(
            "Engagements",
            (
                (f"workforce.engagements.{state}", title, count, url_for(engagements, state=state))
                for state, title, count in (
                    ("active", "Active", active),
                    ("onboarding", "Onboarding", onboarding),
                    ("pending_approval", "Waiting for approval", to_approve),
                )
            ),
        ),
    ]


def _onboarding_checks(session: Session, roles) -> list[OverviewItem]:
    """Onboarding engagements by what they wait for: the freelancer, a staff review, or
    activation once every step is done."""
    open_ = OnboardingStep.done_at.is_(None)
    theirs = OnboardingStep.kind.in_(FREELANCER_STEP_KINDS)
    per = (
        select(
            Engagement.id.label("engagement_id"),
            _sum(and_(open_, theirs)).label("theirs"),
            _sum(and_(open_, ~theirs)).label("ours"),
        )
        .outerjoin(OnboardingStep, OnboardingStep.engagement_id == Engagement.id)
        .where(Engagement.state == "onboarding")
        .group_by(Engagement.id)
        .subquery()
    )
    review, freelancer, ready = (
        int(v)
        for v in session.execute(
            select(
                _sum(and_(per.c.theirs == 0, per.c.ours > 0)),
                _sum(per.c.theirs > 0),
                _sum(and_(per.c.theirs == 0, per.c.ours == 0)),
            )
        ).one()
    )
    onboarding = url_for("workforce.engagements.index", state="onboarding")
    out = []
    if "compliance" in roles:
        out.append(
            OverviewItem(
                key="workforce.reviews_waiting",
                title="Onboarding reviews waiting",
                count=review,
                url=onboarding,
                detail="The freelancer has done their part; a staff review step is open",
                tone="warning",
            )
        )
    if "procurement" in roles:
        out.append(
            OverviewItem(
                key="workforce.ready_to_activate",
                title="Engagements ready to activate",
                count=ready,
                url=onboarding,
                detail="Every onboarding step is done",
            )
        )
    out.append(
        OverviewItem(
            key="workforce.waiting_on_freelancers",
            title="Waiting on the freelancer",
            count=freelancer,
            url=onboarding,
            section=SUMMARY,
            group="Onboarding",
        )
    )
    return out


# --- hiring managers -----------------------------------------------------------------------


def _hiring_manager(session: Session, actor, today: date) -> list[OverviewItem]:
    mine = EngagementTerms.hiring_manager_user_id == actor.user_id
    reviewed = select(PerformanceReview.engagement_id)
    onboarding, active, ending, reviews = (
        int(v)
        for v in session.execute(
            select(
                _sum(Engagement.state == "onboarding"),
                _sum(Engagement.state == "active"),
                _sum(
                    and_(
                        Engagement.state == "active",
                        Engagement.end_date >= today,
                        Engagement.end_date <= today + timedelta(days=ENDING_WITHIN_DAYS),
                    )
                ),
                _sum(
                    and_(
                        (Engagement.state == "ended") | Engagement.notice_given_at.is_not(None),
                        Engagement.id.not_in(reviewed),
                        Engagement.end_date >= today - timedelta(days=REVIEW_WINDOW_DAYS),
                    )
                ),
            )
            .select_from(Engagement)
            .join(EngagementTerms, terms_in_effect(today))
            .where(mine)
        ).one()
    )
    by_state = dict(
        session.execute(
            select(Requisition.state, func.count(Requisition.id))
            .where(Requisition.requester_user_id == actor.user_id)
            .group_by(Requisition.state)
        ).all()
    )
    engagements = "workforce.engagements.index"
    requisitions = "workforce.requisitions.index"
    out = [
        OverviewItem(
            key="workforce.reviews_to_write",
            title="Freelancer reviews to write",
            count=reviews,
            url=url_for(engagements, state="ended", manager="me"),
            detail=f"Engagements of yours that ended in the last {REVIEW_WINDOW_DAYS} days",
        ),
        OverviewItem(
            key="workforce.drafts_to_submit",
            title="Requisition drafts to submit",
            count=by_state.get("draft", 0),
            url=url_for(requisitions, view="mine", state="draft"),
        ),
        OverviewItem(
            key="workforce.rejected_to_revise",
            title="Rejected requisitions to revise or cancel",
            count=by_state.get("rejected", 0),
            url=url_for(requisitions, view="mine", state="rejected"),
            tone="warning",
        ),
        OverviewItem(
            key="workforce.my_ending",
            title="Your engagements ending soon",
            count=ending,
            url=url_for("workforce.headcount.index", manager_user_id=actor.user_id)
            + "#ending-soon",
            detail=f"Within {ENDING_WITHIN_DAYS} days: extend, or plan the handover",
            section=ATTENTION,
            tone="warning",
        ),
        OverviewItem(
            key="workforce.my_onboarding",
            title="Your people in onboarding",
            count=onboarding,
            url=url_for(engagements, state="onboarding", manager="me"),
            section=ATTENTION,
        ),
        OverviewItem(
            key="workforce.my_active",
            title="Your people at work",
            count=active,
            url=url_for(engagements, state="active", manager="me"),
            section=SUMMARY,
            group="My people",
        ),
    ]
    out += summary(
        "My requisitions",
        (
            (f"workforce.my_requisitions.{state}", title, by_state.get(state, 0), url)
            for state, title, url in (
                ("draft", "Drafts", url_for(requisitions, view="mine", state="draft")),
                (
                    "submitted",
                    "Waiting for approval",
                    url_for(requisitions, view="mine", state="submitted"),
                ),
                ("approved", "Approved", url_for(requisitions, view="mine", state="approved")),
                ("rejected", "Rejected", url_for(requisitions, view="mine", state="rejected")),
            )
        ),
    )
    return out


# --- finance -------------------------------------------------------------------------------


def _finance(session: Session, actor, today: date) -> list[OverviewItem]:
    """Currencies in use (open engagements, requisitions not yet decided) with no exchange
    rate into the base currency in force today: reports and approval chains need one."""
    base = select(Organization.base_currency).where(Organization.id == actor.org_id)
    base = base.scalar_subquery()
    in_use = union(
        select(Engagement.currency.label("currency")).where(Engagement.state.in_(OPEN_STATES)),
        select(Requisition.currency).where(Requisition.state.in_(("draft", "submitted"))),
    ).subquery()
    has_rate = exists().where(
        ExchangeRate.currency == in_use.c.currency, ExchangeRate.effective_from <= today
    )
    missing = list(
        session.scalars(
            select(in_use.c.currency)
            .where(in_use.c.currency != base, ~has_rate)
            .order_by(in_use.c.currency)
        )
    )
    return [
        OverviewItem(
            key="workforce.exchange_rates_missing",
            title="Exchange rates missing",
            count=len(missing),
            url=url_for("workforce.catalog.exchange_rates"),
            detail=f"No rate in force for {', '.join(missing[:6])}" if missing else None,
            section=ATTENTION,
            tone="danger",
        )
    ]


# --- freelancers ---------------------------------------------------------------------------


def _freelancer(session: Session, actor, today: date) -> list[OverviewItem]:
    mine = and_(Freelancer.user_id == actor.user_id, Engagement.end_date >= today)
    onboarding, active = (
        int(v)
        for v in session.execute(
            select(_sum(Engagement.state == "onboarding"), _sum(Engagement.state == "active"))
            .select_from(Engagement)
            .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
            .where(mine)
        ).one()
    )
    next_step = session.execute(
        select(
            OnboardingStep.title,
            Engagement.id,
            Engagement.title,
            func.count(OnboardingStep.id).over(),
        )
        .join(Engagement, Engagement.id == OnboardingStep.engagement_id)
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(
            mine,
            Engagement.state == "onboarding",
            OnboardingStep.done_at.is_(None),
            OnboardingStep.kind.in_(FREELANCER_STEP_KINDS),
        )
        .order_by(Engagement.start_date, Engagement.id, OnboardingStep.position)
        .limit(1)
    ).first()
    portal = url_for("workforce.engagements.mine")
    out = []
    if next_step is not None:
        step, engagement_id, engagement, total = next_step
        out.append(
            OverviewItem(
                key="workforce.my_onboarding_steps",
                title="Onboarding steps to complete",
                count=int(total),
                url=url_for("workforce.engagements.show", engagement_id=engagement_id),
                detail=f"Next: {step} ({engagement})",
                tone="warning",
            )
        )
    out += summary(
        "My engagements",
        [
            ("workforce.my_engagements.active", "Active", active, portal),
            ("workforce.my_engagements.onboarding", "In onboarding", onboarding, portal),
        ],
    )
    return out

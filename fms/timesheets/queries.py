"""Timesheet reads for the pages and API to come: the reviewer's queue and a freelancer's
history, each in a fixed number of statements whatever the number of sheets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fms.identity.actor import Actor
from fms.timesheets import pricing, services
from fms.timesheets.models import Timesheet
from fms.timesheets.services import Reviewers, _profile_of
from fms.workforce.models import Delegation, EngagementTerms, Freelancer


@dataclass
class SheetRow:
    sheet: Timesheet
    freelancer_name: str
    age_days: int  # since submission
    minutes: int  # billable, after rounding
    overtime_minutes: int
    half_days: int
    amounts: dict[str, Decimal]  # rounded as invoice lines
    # days of the week that fell under another manager than the reviewing one
    other_manager_days: list[date]
    # the engagement's counted spend (this sheet included) against the cap in effect
    # today, as a whole percentage; None where there is no cap to compare with
    budget_used_percent: int | None = None


def _rows(session: Session, sheets, names: dict, today: date, reviewers=None) -> list[SheetRow]:
    items = pricing.sheet_items(session, [s.id for s in sheets])
    rows = []
    for sheet in sheets:
        mine = items[sheet.id]
        other_days = []
        if reviewers is not None:
            other_days = reviewers.other_manager_days(sheet)
        submitted = sheet.submitted_at.date() if sheet.submitted_at else today
        rows.append(
            SheetRow(
                sheet=sheet,
                freelancer_name=names.get(sheet.freelancer_id, ""),
                age_days=max((today - submitted).days, 0),
                minutes=sum(i.minutes for i in mine if i.kind in ("time", "overtime")),
                overtime_minutes=sum(i.quantity for i in mine if i.kind == "overtime"),
                half_days=sum(i.quantity for i in mine if i.kind == "day"),
                amounts=pricing.totals_by_currency(mine),
                other_manager_days=other_days,
            )
        )
    return rows


def sheets_to_review(session: Session, *, actor: Actor, today: date):
    """Submitted sheets the actor may decide today, oldest week first, with the Reviewers
    that decided it. Four or five statements whatever the number."""
    stmt = select(Timesheet).where(Timesheet.state == "submitted")
    if not actor.can("engagements.manage"):
        # a superset in SQL (engagements the actor, or someone they stand in for, ever
        # managed), narrowed exactly to the reviewing day and the acting day below
        stood_in_for = select(Delegation.manager_user_id).where(
            Delegation.delegate_user_id == actor.user_id,
            Delegation.revoked_at.is_(None),
            Delegation.starts_on <= today,
            Delegation.ends_on >= today,
        )
        managed = select(EngagementTerms.engagement_id).where(
            or_(
                EngagementTerms.hiring_manager_user_id == actor.user_id,
                EngagementTerms.hiring_manager_user_id.in_(stood_in_for),
            )
        )
        stmt = stmt.where(Timesheet.engagement_id.in_(managed))
    sheets = session.scalars(stmt.order_by(Timesheet.week_start, Timesheet.id)).all()
    reviewers = Reviewers(
        session, actor, {s.engagement_id for s in sheets}, full_history=True, today=today
    )
    return [s for s in sheets if reviewers.may_decide(s)], reviewers


def review_queue(
    session: Session, *, actor: Actor, today: date, with_budget: bool = True
) -> list[SheetRow]:
    """Submitted sheets the actor may decide today, oldest week first: freelancer, week,
    age, time, overtime, amount per currency and (`with_budget`) the engagement's budget
    used. A fixed number of statements whatever the number of sheets.

    The budget prices every counted week of the queue's engagements (a manager with 125
    engagements of a year each: 6,500 weeks, about a second), so the page asks for it
    separately (`queue_budgets`) and shows the queue at once."""
    mine, reviewers = sheets_to_review(session, actor=actor, today=today)
    names = dict(
        session.execute(
            select(Freelancer.id, Freelancer.display_name).where(
                Freelancer.id.in_({s.freelancer_id for s in mine})
            )
        ).all()
    )
    rows = _rows(session, mine, names, today, reviewers)
    if with_budget:
        used = _queue_budget(session, mine, reviewers, today)
        for row in rows:
            row.budget_used_percent = used.get(row.sheet.engagement_id)
    return rows


def queue_budgets(session: Session, *, actor: Actor, today: date) -> dict[int, int]:
    """The budget used (whole percent) of each engagement in the actor's review queue."""
    mine, reviewers = sheets_to_review(session, actor=actor, today=today)
    return _queue_budget(session, mine, reviewers, today)


def _queue_budget(session, sheets, reviewers, today) -> dict[int, int]:
    engagements = [reviewers.engagements[i] for i in sorted({s.engagement_id for s in sheets})]
    return budget_used(session, engagements, reviewers.history, today)


def budget_used(session: Session, engagements, history: dict, today: date) -> dict:
    """Each engagement's counted spend in its currency against the budget cap in effect
    today (terms history by engagement id), as a whole percentage (rounded down, so 100
    means the cap is reached)."""
    spent = services.spend_items(session, engagements)
    used = {}
    for engagement in engagements:
        terms = pricing.terms_for_day(history.get(engagement.id, []), today)
        if terms is None or not terms.budget_cap:
            continue
        total = pricing.totals_by_currency(spent[engagement.id]).get(engagement.currency, 0)
        used[engagement.id] = int(total * 100 // terms.budget_cap)
    return used


def freelancer_history(
    session: Session, *, actor: Actor, today: date, limit: int = 52
) -> list[SheetRow]:
    """The actor's own sheets (as a freelancer), newest week first, with their totals.
    Six statements whatever the number."""
    profile = _profile_of(session, actor)
    if profile is None:
        return []
    sheets = session.scalars(
        select(Timesheet)
        .where(Timesheet.freelancer_id == profile.id)
        .order_by(Timesheet.week_start.desc(), Timesheet.id.desc())
        .limit(limit)
    ).all()
    return _rows(session, sheets, {profile.id: profile.display_name}, today)

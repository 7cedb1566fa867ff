"""Headcount at any date, computed in SQL from effective-dated history.

An engagement counts on a date when it has been worked (active or ended), the date lies
within its start and (current) end date, and its dimensions (manager, cost centre, ...)
are those of the terms in effect that day. Back-dated changes therefore change past
figures, and an ended engagement still counts on the days it was active.

People and engagements are different counts: a freelancer with two engagements on the same
day is one person and two engagements. A person counts once in the total and once in each
group they belong to (groups may add up to more than the total). FTE is a person's weekly
minutes over the organization's standard week, at most 1.0 per person.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session, aliased

from fms.identity.models import Organization, User
from fms.workforce import rules
from fms.workforce.models import (
    CostCentre,
    Department,
    Engagement,
    EngagementTerms,
    Freelancer,
    FreelancerSkill,
    Location,
    Skill,
    Supplier,
)

DIRECT = "Direct (no supplier)"
GROUPS = {
    "cost_centre": "Cost centre",
    "department": "Department",
    "location": "Location",
    "country": "Country",
    "supplier": "Supplier",
    "manager": "Hiring manager",
    "skill": "Skill",
    "kind": "Engagement kind",
}
FILTERS = {
    "cost_centre_id": "cost_centre",
    "department_id": "department",
    "location_id": "location",
    "country": "country",
    "supplier_id": "supplier",
    "manager_user_id": "manager",
    "skill_id": "skill",
    "kind": "kind",
}


@dataclass
class Figures:
    people: int = 0
    engagements: int = 0
    fte: Decimal = Decimal("0.00")


@dataclass
class Group(Figures):
    key: object = None
    label: str = ""


@dataclass
class Headcount:
    on: date
    group_by: str | None
    total: Figures
    groups: list[Group] = field(default_factory=list)


def _terms_in_effect(on: date):
    later = aliased(EngagementTerms)
    latest = (
        select(func.max(later.effective_from))
        .where(later.engagement_id == Engagement.id, later.effective_from <= on)
        .correlate(Engagement)
        .scalar_subquery()
    )
    return and_(
        EngagementTerms.engagement_id == Engagement.id, EngagementTerms.effective_from == latest
    )


def _dimension(name: str):
    return {
        "cost_centre": EngagementTerms.cost_centre_id,
        "department": EngagementTerms.department_id,
        "location": EngagementTerms.location_id,
        "country": Freelancer.country,
        "supplier": Engagement.supplier_id,
        "manager": EngagementTerms.hiring_manager_user_id,
        "skill": FreelancerSkill.skill_id,
        "kind": Engagement.kind,
    }[name]


def _working_on(on: date, filters: dict, group_by: str | None, key_label="key"):
    """Rows (key, person, engagement, weekly minutes) of engagements worked on `on`."""
    key = _dimension(group_by) if group_by else literal(None)
    stmt = (
        select(
            key.label(key_label),
            Engagement.freelancer_id.label("person"),
            Engagement.id.label("engagement"),
            EngagementTerms.weekly_minutes.label("minutes"),
        )
        .select_from(Engagement)
        .join(EngagementTerms, _terms_in_effect(on))
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(
            Engagement.state.in_(rules.COUNTED_STATES),
            Engagement.start_date <= on,
            Engagement.end_date >= on,
        )
    )
    if group_by == "skill" or "skill_id" in filters:
        stmt = stmt.join(FreelancerSkill, FreelancerSkill.freelancer_id == Freelancer.id)
    for name, value in filters.items():
        if value not in (None, ""):
            stmt = stmt.where(_dimension(FILTERS[name]) == value)
    return stmt


def _figures(session: Session, on: date, filters: dict, group_by: str | None, standard: int):
    rows = _working_on(on, filters, group_by).subquery()
    per_person = (
        select(
            rows.c.key,
            rows.c.person,
            func.count(func.distinct(rows.c.engagement)).label("engagements"),
            # a person's minutes: each engagement once, even when skills multiply rows
            func.sum(rows.c.minutes).label("minutes"),
        )
        .group_by(rows.c.key, rows.c.person)
        .subquery()
    )
    capped = case((per_person.c.minutes > standard, standard), else_=per_person.c.minutes)
    return session.execute(
        select(
            per_person.c.key,
            func.count(per_person.c.person),
            func.sum(per_person.c.engagements),
            func.sum(capped),
        ).group_by(per_person.c.key)
    ).all()


def _fte(minutes, standard: int) -> Decimal:
    return (Decimal(int(minutes or 0)) / Decimal(standard)).quantize(Decimal("0.01"))


def standard_week(session: Session, org_id: int) -> int:
    return session.get(Organization, org_id).standard_week_minutes or 2400


def headcount(
    session: Session, *, org_id: int, on: date, group_by: str | None = None, filters=None
) -> Headcount:
    """Contingent workers on a date: total, and per group when `group_by` is given."""
    filters = {k: v for k, v in (filters or {}).items() if k in FILTERS and v not in (None, "")}
    if group_by is not None and group_by not in GROUPS:
        raise ValueError(f"unknown grouping {group_by!r}")
    standard = standard_week(session, org_id)
    [total_row] = _figures(session, on, filters, None, standard) or [(None, 0, 0, 0)]
    total = Figures(int(total_row[1]), int(total_row[2] or 0), _fte(total_row[3], standard))
    result = Headcount(on=on, group_by=group_by, total=total)
    if group_by:
        rows = _figures(session, on, filters, group_by, standard)
        labels = group_labels(session, group_by, [r[0] for r in rows])
        result.groups = sorted(
            (
                Group(
                    key=key,
                    label=labels.get(key, str(key)),
                    people=int(people),
                    engagements=int(engagements or 0),
                    fte=_fte(minutes, standard),
                )
                for key, people, engagements, minutes in rows
            ),
            key=lambda g: (-g.people, g.label),
        )
    return result


def group_labels(session: Session, group_by: str, keys) -> dict:
    """Display names of group keys, in one query per grouping."""
    keys = [k for k in keys if k is not None]
    if group_by in ("country",):
        return {k: k for k in keys}
    if group_by == "kind":
        return {k: rules.ENGAGEMENT_KINDS.get(k, k) for k in keys}
    labels: dict = {None: DIRECT} if group_by == "supplier" else {}
    if not keys:
        return labels
    model, column = {
        "cost_centre": (CostCentre, CostCentre.name),
        "department": (Department, Department.name),
        "location": (Location, Location.name),
        "supplier": (Supplier, Supplier.name),
        "manager": (User, User.name),
        "skill": (Skill, Skill.name),
    }[group_by]
    for key, label in session.execute(select(model.id, column).where(model.id.in_(keys))):
        labels[key] = label
    return labels


def month_ends(today: date, months: int) -> list[date]:
    """The last day of each of the last `months` months, ending with today for this month."""
    points = []
    year, month = today.year, today.month
    for _ in range(months):
        last = date(year, month, calendar.monthrange(year, month)[1])
        points.append(min(last, today))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(points))


def trend(session: Session, *, org_id: int, today: date, months: int = 12, filters=None):
    """Headcount as it was on each month's last day (one query per month, whatever the rows)."""
    filters = {k: v for k, v in (filters or {}).items() if k in FILTERS and v not in (None, "")}
    standard = standard_week(session, org_id)
    series = []
    for point in month_ends(today, months):
        rows = _figures(session, point, filters, None, standard)
        people, engagements, minutes = (rows[0][1], rows[0][2], rows[0][3]) if rows else (0, 0, 0)
        series.append((point, Figures(int(people), int(engagements or 0), _fte(minutes, standard))))
    return series


def ending_soon(session: Session, *, today: date, limit: int = 25):
    """Engagements at work today that end within 30, 60 and 90 days, and the nearest ones."""
    horizon = today + timedelta(days=90)
    at_work = and_(
        Engagement.state == "active",
        Engagement.start_date <= today,
        Engagement.end_date >= today,
        Engagement.end_date <= horizon,
    )
    counts = session.execute(
        select(
            func.sum(case((Engagement.end_date <= today + timedelta(days=30), 1), else_=0)),
            func.sum(case((Engagement.end_date <= today + timedelta(days=60), 1), else_=0)),
            func.count(Engagement.id),
        ).where(at_work)
    ).one()
    nearest = session.execute(
        select(Engagement.id, Engagement.title, Engagement.end_date, Freelancer.display_name)
        .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .where(at_work)
        .order_by(Engagement.end_date, Engagement.id)
        .limit(limit)
    ).all()
    return {
        "30": int(counts[0] or 0),
        "60": int(counts[1] or 0),
        "90": int(counts[2] or 0),
    }, nearest

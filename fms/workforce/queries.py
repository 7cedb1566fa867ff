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

from sqlalchemy import Date, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from fms.identity.actor import Actor
from fms.identity.models import Organization, User
from fms.lookups import LIKE_ESCAPE, contains_text, like_pattern  # noqa: F401 - re-exported
from fms.workforce import rules
from fms.workforce.models import (
    ApprovalRule,
    ApprovalStep,
    CostCentre,
    Department,
    Engagement,
    EngagementTerms,
    Freelancer,
    FreelancerSkill,
    Location,
    Requisition,
    Skill,
    Supplier,
    WorkforceSettings,
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


# --- text search: what people type is matched literally (fms.lookups) -------------------


def freelancer_matches(text: str):
    """The directory's name search: display name, email or headline contains `text`."""
    return or_(
        contains_text(Freelancer.display_name, text),
        contains_text(Freelancer.email, text),
        contains_text(Freelancer.headline, text),
    )


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


# the terms row in force on a day, for joins outside this module (the Overview)
terms_in_effect = _terms_in_effect


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
    """Headcount as it was on each month's last day: one grouped query over the list of
    month-ends (a UNION of dates joined to the engagements and the terms in effect on each
    date), the same figures as `headcount` on each of those days."""
    filters = {k: v for k, v in (filters or {}).items() if k in FILTERS and v not in (None, "")}
    standard = standard_week(session, org_id)
    points_list = month_ends(today, months)
    points = union_all(
        *(select(literal(point, Date).label("on")) for point in points_list)
    ).subquery("points")
    on = points.c.on
    # each terms row with the days it covers (until the next row): a range join, instead of
    # a correlated max() per date and engagement
    terms = select(
        EngagementTerms,
        func.coalesce(
            func.lead(EngagementTerms.effective_from).over(
                partition_by=EngagementTerms.engagement_id,
                order_by=EngagementTerms.effective_from,
            ),
            literal(date(9999, 12, 31), Date),
        ).label("valid_to"),
    )
    terms = terms.where(EngagementTerms.org_id == org_id).subquery("terms")
    stmt = (
        select(
            on.label("on"),
            Engagement.freelancer_id.label("person"),
            Engagement.id.label("engagement"),
            terms.c.weekly_minutes.label("minutes"),
        )
        .select_from(points)
        .join(Engagement, and_(Engagement.start_date <= on, Engagement.end_date >= on))
        .join(
            terms,
            and_(
                terms.c.engagement_id == Engagement.id,
                terms.c.effective_from <= on,
                terms.c.valid_to > on,
            ),
        )
        .where(Engagement.state.in_(rules.COUNTED_STATES))
    )
    if filters.keys() & {"country", "skill_id"}:
        stmt = stmt.join(Freelancer, Freelancer.id == Engagement.freelancer_id)
    if "skill_id" in filters:
        stmt = stmt.join(FreelancerSkill, FreelancerSkill.freelancer_id == Freelancer.id)
    for name, value in filters.items():
        column = _dimension(FILTERS[name])
        if column.table is EngagementTerms.__table__:
            column = terms.c[column.key]
        stmt = stmt.where(column == value)
    rows = stmt.subquery()
    per_person = (
        select(
            rows.c.on,
            rows.c.person,
            # one row per date x engagement (its terms rows do not overlap): no DISTINCT,
            # so PostgreSQL hashes the groups instead of sorting 120,000 rows
            func.count(rows.c.engagement).label("engagements"),
            func.sum(rows.c.minutes).label("minutes"),
        )
        .group_by(rows.c.on, rows.c.person)
        .subquery()
    )
    capped = case((per_person.c.minutes > standard, standard), else_=per_person.c.minutes)
    found = {
        (day if isinstance(day, date) else date.fromisoformat(str(day))): (people, count, minutes)
        for day, people, count, minutes in session.execute(
            select(
                per_person.c.on,
                func.count(per_person.c.person),
                func.sum(per_person.c.engagements),
                func.sum(capped),
            ).group_by(per_person.c.on)
        )
    }
    series = []
    for point in points_list:
        people, engagements, minutes = found.get(point, (0, 0, 0))
        series.append((point, Figures(int(people), int(engagements or 0), _fte(minutes, standard))))
    return series


def ending_soon(session: Session, *, today: date, filters=None, limit: int = 25):
    """Engagements at work today that end within 30, 60 and 90 days, and the nearest ones;
    `filters` narrow them exactly as they narrow the headcount (dimensions in effect today)."""
    filters = {k: v for k, v in (filters or {}).items() if k in FILTERS and v not in (None, "")}
    horizon = today + timedelta(days=90)
    at_work = and_(
        Engagement.state == "active",
        Engagement.start_date <= today,
        Engagement.end_date >= today,
        Engagement.end_date <= horizon,
    )
    if filters:
        matching = _working_on(today, filters, None).subquery()
        at_work = and_(at_work, Engagement.id.in_(select(matching.c.engagement)))
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


# --- lists for pages and the API (a fixed number of queries whatever the rows) --------------


def manager_choices(session: Session) -> list[tuple[int, str]]:
    """Active members who manage engagements (hiring managers, org admins), by name."""
    from fms.identity.models import Membership

    members = session.execute(
        select(User.id, User.name, Membership.roles)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.is_active.is_(True))
        .order_by(User.name)
    ).all()
    return [
        (uid, name)
        for uid, name, roles in members
        if {"hiring_manager", "org_admin"} & set(roles or [])
    ]


def supplier_choices(session: Session) -> list[tuple[str, str]]:
    """(id, name) of every supplier, for a list's filter."""
    return [
        (str(i), name)
        for i, name in session.execute(select(Supplier.id, Supplier.name).order_by(Supplier.name))
    ]


def choices(session: Session, *, freelancers: bool = False) -> dict:
    """Options for the small selects: active org structure, hiring managers, suppliers,
    skills; the freelancers only when asked (pickers use `fms.workforce.lookups`)."""

    def units(model):
        return [
            (u.id, f"{u.code} · {u.name}")
            for u in session.scalars(
                select(model).where(model.is_active.is_(True)).order_by(model.code)
            )
        ]

    out = {
        "department_id": units(Department),
        "cost_centre_id": units(CostCentre),
        "location_id": units(Location),
        "hiring_manager_user_id": manager_choices(session),
        "supplier_id": [
            (s.id, s.name)
            for s in session.scalars(
                select(Supplier).where(Supplier.is_active.is_(True)).order_by(Supplier.name)
            )
        ],
        "skill_ids": [(s.id, s.name) for s in session.scalars(select(Skill).order_by(Skill.name))],
    }
    if freelancers:
        out["freelancer_id"] = [
            (f.id, f"{f.display_name} ({f.country})")
            for f in session.scalars(select(Freelancer).order_by(Freelancer.display_name))
        ]
    return out


@dataclass
class RequisitionRow:
    requisition: object
    requester: str
    waiting_on: str | None


def requisition_queue(
    session: Session, *, actor, view: str, state: str | None, page: int, per_page: int = 50
):
    """Requisitions for the queue page: waiting on the actor, the actor's own, or all."""
    stmt = requisition_queue_statement(actor, view)
    if state:
        stmt = stmt.where(Requisition.state == state)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(
        stmt.order_by(Requisition.created_at.desc(), Requisition.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [RequisitionRow(r, name, label) for r, name, label in rows], total


def requisition_queue_statement(actor, view: str):
    """(requisition, requester name, current step label): waiting on the actor, the
    actor's own requests, or all."""
    current = (
        select(ApprovalStep.requisition_id, func.min(ApprovalStep.position).label("position"))
        .join(Requisition, Requisition.id == ApprovalStep.requisition_id)
        .where(ApprovalStep.state == "pending", ApprovalStep.round == Requisition.round)
        .group_by(ApprovalStep.requisition_id)
        .subquery()
    )
    step = aliased(ApprovalStep)
    stmt = (
        select(Requisition, User.name.label("requester"), step.label.label("waiting_on"))
        .join(User, User.id == Requisition.requester_user_id)
        .outerjoin(current, current.c.requisition_id == Requisition.id)
        .outerjoin(
            step,
            (step.requisition_id == Requisition.id)
            & (step.round == Requisition.round)
            & (step.position == current.c.position),
        )
    )
    if view == "waiting":
        stmt = stmt.where(
            Requisition.state == "submitted",
            step.role.in_(sorted(actor.roles)),
            Requisition.requester_user_id != (actor.user_id or -1),
        )
    elif view == "mine":
        stmt = stmt.where(Requisition.requester_user_id == actor.user_id)
    return stmt


@dataclass
class EngagementRow:
    engagement: object
    freelancer: str | None
    supplier: str | None
    manager: str | None
    rate: Decimal | None
    cost_centre: str | None


def engagement_list(
    session: Session,
    *,
    on: date,
    state: str | None = None,
    search: str | None = None,
    freelancer_user_id: int | None = None,
    manager_user_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
):
    """Engagements with today's terms, freelancer, supplier and manager, one page at a time."""
    stmt = engagement_list_statement(on)
    if state:
        stmt = stmt.where(Engagement.state == state)
    if search:
        stmt = stmt.where(
            contains_text(Engagement.title, search) | contains_text(Freelancer.display_name, search)
        )
    if freelancer_user_id is not None:
        stmt = stmt.where(Freelancer.user_id == freelancer_user_id, Engagement.end_date >= on)
    if manager_user_id is not None:
        stmt = stmt.where(EngagementTerms.hiring_manager_user_id == manager_user_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(
        stmt.order_by(Engagement.start_date.desc(), Engagement.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [EngagementRow(*row) for row in rows], total


def engagement_list_statement(on: date):
    """(engagement, freelancer, supplier, manager, rate, cost centre code), terms of `on`."""
    return (
        select(
            Engagement,
            Freelancer.display_name.label("freelancer"),
            Supplier.name.label("supplier"),
            User.name.label("manager"),
            EngagementTerms.rate.label("rate"),
            CostCentre.code.label("cost_centre"),
        )
        .outerjoin(Freelancer, Freelancer.id == Engagement.freelancer_id)
        .outerjoin(Supplier, Supplier.id == Engagement.supplier_id)
        .outerjoin(EngagementTerms, _terms_for_list(on))
        .outerjoin(User, User.id == EngagementTerms.hiring_manager_user_id)
        .outerjoin(CostCentre, CostCentre.id == EngagementTerms.cost_centre_id)
    )


def freelancer_ratings():
    """Average rating and review count per freelancer, aggregated in SQL (a subquery)."""
    from fms.workforce.models import PerformanceReview

    return (
        select(
            PerformanceReview.freelancer_id,
            func.avg(PerformanceReview.rating).label("avg"),
            func.count(PerformanceReview.id).label("reviews"),
        )
        .group_by(PerformanceReview.freelancer_id)
        .subquery()
    )


def _terms_for_list(on: date):
    """Terms in effect on `on`, or the first terms for engagements that start later."""
    later = aliased(EngagementTerms)
    in_effect = (
        select(func.max(later.effective_from))
        .where(later.engagement_id == Engagement.id, later.effective_from <= on)
        .correlate(Engagement)
        .scalar_subquery()
    )
    first = (
        select(func.min(later.effective_from))
        .where(later.engagement_id == Engagement.id)
        .correlate(Engagement)
        .scalar_subquery()
    )
    return and_(
        EngagementTerms.engagement_id == Engagement.id,
        EngagementTerms.effective_from == func.coalesce(in_effect, first),
    )


def user_names(session: Session, ids) -> dict[int, str]:
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def talent_search(
    session: Session,
    *,
    skill_id=None,
    min_level=None,
    country=None,
    available_from=None,
    available_to=None,
    min_rating=None,
    text=None,
    page=1,
    per_page=50,
):
    """Freelancers already known to the organization, by skill, country, availability, rating
    and name search (`text`), all of them together."""
    rating = freelancer_ratings()
    stmt = select(Freelancer, rating.c.avg, rating.c.reviews).outerjoin(
        rating, rating.c.freelancer_id == Freelancer.id
    )
    if text:
        stmt = stmt.where(freelancer_matches(text))
    if skill_id:
        has_skill = select(FreelancerSkill.id).where(
            FreelancerSkill.freelancer_id == Freelancer.id,
            FreelancerSkill.skill_id == skill_id,
            FreelancerSkill.level >= (min_level or 1),
        )
        stmt = stmt.where(has_skill.exists())
    if country:
        stmt = stmt.where(Freelancer.country == country.upper())
    if available_from and available_to:
        busy = select(Engagement.id).where(
            Engagement.freelancer_id == Freelancer.id,
            Engagement.state.in_(rules.BOOKED_STATES),
            Engagement.start_date <= available_to,
            Engagement.end_date >= available_from,
        )
        stmt = stmt.where(~busy.exists())
    if min_rating:
        stmt = stmt.where(rating.c.avg >= min_rating)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(
        stmt.order_by(rating.c.avg.desc().nulls_last(), Freelancer.display_name)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return rows, total


def engagement_of_requisition(session: Session, requisition_id: int):
    return session.scalar(select(Engagement).where(Engagement.requisition_id == requisition_id))


def structure_labels(session: Session, row) -> dict:
    """Names of the department, cost centre and location a row points at."""
    out = {}
    for name, model in (
        ("department", Department),
        ("cost_centre", CostCentre),
        ("location", Location),
    ):
        unit_id = getattr(row, f"{name}_id")
        unit = session.scalar(select(model).where(model.id == unit_id))
        out[name] = f"{unit.code} · {unit.name}" if unit else "—"
    return out


def skill_names(session: Session, ids) -> list[str]:
    ids = list(ids or [])
    if not ids:
        return []
    return list(session.scalars(select(Skill.name).where(Skill.id.in_(ids)).order_by(Skill.name)))


def open_steps(session: Session, engagement_ids) -> dict[int, list]:
    from fms.workforce.models import OnboardingStep

    ids = list(engagement_ids)
    out: dict[int, list] = {i: [] for i in ids}
    if ids:
        for step in session.scalars(
            select(OnboardingStep)
            .where(OnboardingStep.engagement_id.in_(ids), OnboardingStep.done_at.is_(None))
            .order_by(OnboardingStep.position)
        ):
            out[step.engagement_id].append(step)
    return out


def engagement_party(session: Session, engagement) -> dict:
    freelancer = supplier = None
    if engagement.freelancer_id:
        freelancer = session.scalar(
            select(Freelancer).where(Freelancer.id == engagement.freelancer_id)
        )
    if engagement.supplier_id:
        supplier = session.scalar(select(Supplier).where(Supplier.id == engagement.supplier_id))
    return {"freelancer": freelancer, "supplier": supplier}


def review_of(session: Session, engagement_id: int):
    from fms.workforce.models import PerformanceReview

    return session.scalar(
        select(PerformanceReview).where(PerformanceReview.engagement_id == engagement_id)
    )


def freelancer_engagements(session: Session, freelancer_id: int) -> list:
    return list(
        session.scalars(
            select(Engagement)
            .where(Engagement.freelancer_id == freelancer_id)
            .order_by(Engagement.start_date.desc())
        )
    )


def terms_by_engagement(session: Session, engagement_ids) -> dict[int, list]:
    ids = list(engagement_ids)
    out: dict[int, list] = {i: [] for i in ids}
    if ids:
        for row in session.scalars(
            select(EngagementTerms)
            .where(EngagementTerms.engagement_id.in_(ids))
            .order_by(EngagementTerms.engagement_id, EngagementTerms.effective_from)
        ):
            out[row.engagement_id].append(row)
    return out


def steps_by_engagement(session: Session, engagement_ids) -> dict[int, list]:
    """Every onboarding step (the checklist) of many engagements, in one query."""
    from fms.workforce.models import OnboardingStep

    ids = list(engagement_ids)
    out: dict[int, list] = {i: [] for i in ids}
    if ids:
        for step in session.scalars(
            select(OnboardingStep)
            .where(OnboardingStep.engagement_id.in_(ids))
            .order_by(OnboardingStep.engagement_id, OnboardingStep.position)
        ):
            out[step.engagement_id].append(step)
    return out


def requisition_extras(session: Session, requisition_ids) -> tuple[dict, dict]:
    """Approval steps (all rounds) and resulting engagement ids for many requisitions."""
    from fms.workforce.models import ApprovalStep

    ids = list(requisition_ids)
    steps: dict[int, list] = {i: [] for i in ids}
    engagement_ids: dict[int, int] = {}
    if ids:
        for step in session.scalars(
            select(ApprovalStep)
            .where(ApprovalStep.requisition_id.in_(ids))
            .order_by(ApprovalStep.requisition_id, ApprovalStep.round, ApprovalStep.position)
        ):
            steps[step.requisition_id].append(step)
        engagement_ids = dict(
            session.execute(
                select(Engagement.requisition_id, Engagement.id).where(
                    Engagement.requisition_id.in_(ids)
                )
            ).all()
        )
    return steps, engagement_ids


# --- settings and approval chains (read by the rules of several rooms) ---------------------


def default_workforce_settings() -> WorkforceSettings:
    """The settings an organization has until an org admin changes them."""
    return WorkforceSettings(
        notice_period_days=14, trial_max_days=30, trial_max_budget=Decimal(5000)
    )


def workforce_settings(session: Session) -> WorkforceSettings:
    """The organization's workforce settings (the defaults, unsaved, until changed)."""
    return session.scalar(select(WorkforceSettings)) or default_workforce_settings()


def stands_in_for(session: Session, delegate_user_id: int, manager_user_id: int, on: date) -> bool:
    """Whether a delegation in force on that day lets one person act for a manager."""
    from fms.workforce.models import Delegation

    return (
        session.scalar(
            select(func.count(Delegation.id)).where(
                Delegation.delegate_user_id == delegate_user_id,
                Delegation.manager_user_id == manager_user_id,
                Delegation.starts_on <= on,
                Delegation.ends_on >= on,
                Delegation.revoked_at.is_(None),
            )
        )
        > 0
    )


def approval_rules(session: Session) -> list[ApprovalRule]:
    """The organization's approval chain rules, in order."""
    return list(session.scalars(select(ApprovalRule).order_by(ApprovalRule.position)))


def waiting_for(session: Session, actor: Actor) -> int:
    """How many submitted requisitions wait on a step of one of the actor's roles."""
    first_pending = (
        select(ApprovalStep.requisition_id, func.min(ApprovalStep.position).label("position"))
        .join(Requisition, Requisition.id == ApprovalStep.requisition_id)
        .where(
            ApprovalStep.state == "pending",
            ApprovalStep.round == Requisition.round,
            Requisition.state == "submitted",
        )
        .group_by(ApprovalStep.requisition_id)
        .subquery()
    )
    stmt = (
        select(func.count())
        .select_from(ApprovalStep)
        .join(
            first_pending,
            (first_pending.c.requisition_id == ApprovalStep.requisition_id)
            & (first_pending.c.position == ApprovalStep.position),
        )
        .join(Requisition, Requisition.id == ApprovalStep.requisition_id)
        .where(
            ApprovalStep.state == "pending",
            ApprovalStep.round == Requisition.round,
            ApprovalStep.role.in_(sorted(actor.roles)),
            Requisition.requester_user_id != (actor.user_id or -1),
        )
    )
    return session.scalar(stmt) or 0

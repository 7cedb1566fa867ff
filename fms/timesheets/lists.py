"""Timesheets' lists (fms.lists specs): sheets, milestones and expenses, each narrowed to
what the actor may see — a freelancer their own, staff who read engagements all (as
`services.get_timesheet` decides for one sheet); a reviewer's own work is the review queue.
Pages, exports and the API read them the same way."""

from __future__ import annotations

from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.orm import aliased

from fms.input import parse_date
from fms.lists import Column, Filter, ListSpec, search_filter
from fms.timesheets import rules
from fms.timesheets.models import Expense, Milestone, Timesheet
from fms.workforce.lists import amount, changed_since, id_filter, updated_column
from fms.workforce.models import Engagement, EngagementTerms, Freelancer

SHEET_STATES = list(rules.SHEET_TRANSITIONS)
MILESTONE_STATES = list(rules.MILESTONE_TRANSITIONS)
EXPENSE_STATES = list(rules.EXPENSE_TRANSITIONS)
DATE_FILTER = {"parse": parse_date, "kind": "date", "api_type": "date"}


def visible_engagements(actor, engagement_id):
    """A condition on an engagement id column: the engagements whose time and costs the
    actor may list (None: all of them)."""
    if actor.can("engagements.read"):
        # staff who read engagements read their time and costs (get_timesheet's rule):
        # finance and compliance too, not only procurement
        return None
    conditions = []
    if actor.can("own_engagements.read") and actor.user_id is not None:
        own = select(Engagement.id).where(
            Engagement.freelancer_id.in_(
                select(Freelancer.id).where(Freelancer.user_id == actor.user_id)
            )
        )
        conditions.append(engagement_id.in_(own))
    return or_(*conditions) if conditions else false()


def _scoped(stmt, actor, engagement_id):
    condition = visible_engagements(actor, engagement_id)
    return stmt if condition is None else stmt.where(condition)


def _states(options):
    """`?state=submitted,approved`: one or more states, comma-separated."""

    def parse(text: str) -> tuple[str, ...]:
        values = tuple(dict.fromkeys(v.strip() for v in text.split(",")))
        if not values or any(v not in options for v in values):
            raise ValueError(text)
        return values

    return parse


def _state_filter(options, column) -> Filter:
    return Filter(
        "state",
        "Status",
        _states(options),
        lambda s, v, c: s.where(column.in_(v)),
        choices=[(v, v.replace("_", " ").capitalize()) for v in options],
        kind="select",
        message="One or more of (comma-separated): " + ", ".join(options) + ".",
    )


def _engagement_filter(column) -> Filter:
    return id_filter("engagement_id", "Engagement", lambda v: column == v, "An engagement id.")


# --- timesheets ----------------------------------------------------------------------------


def _timesheets(session, actor, ctx):
    stmt = (
        select(
            Timesheet,
            Freelancer.display_name.label("freelancer"),
            Engagement.title.label("engagement"),
        )
        .join(Engagement, Engagement.id == Timesheet.engagement_id)
        .join(Freelancer, Freelancer.id == Timesheet.freelancer_id)
    )
    stmt = changed_since(stmt, Timesheet.updated_at, ctx)
    return _scoped(stmt, actor, Timesheet.engagement_id)


def _in_cost_centre(cost_centre_id):
    """The sheet's engagement terms in force at the week's start name the cost centre."""
    later = aliased(EngagementTerms)
    in_force = (
        select(func.max(later.effective_from))
        .where(
            later.engagement_id == Timesheet.engagement_id,
            later.effective_from <= Timesheet.week_start,
        )
        .correlate(Timesheet)
        .scalar_subquery()
    )
    return exists().where(
        EngagementTerms.engagement_id == Timesheet.engagement_id,
        EngagementTerms.effective_from == in_force,
        EngagementTerms.cost_centre_id == cost_centre_id,
    )


TIMESHEETS = ListSpec(
    key="timesheets",
    title="Timesheets",
    statement=_timesheets,
    tiebreak=Timesheet.id.desc(),
    default_sort="-week_start",
    columns=[
        Column("id", "ID", Timesheet.id, "number", value=lambda r: r.Timesheet.id, page=False),
        Column(
            "week_start",
            "Week",
            Timesheet.week_start,
            "date",
            value=lambda r: r.Timesheet.week_start,
        ),
        Column(
            "week_end",
            "Until",
            Timesheet.week_end,
            "date",
            value=lambda r: r.Timesheet.week_end,
            page=False,
        ),
        Column("freelancer", "Freelancer", Freelancer.display_name, value=lambda r: r.freelancer),
        Column("engagement", "Engagement", Engagement.title, value=lambda r: r.engagement),
        Column("state", "Status", Timesheet.state, "state", value=lambda r: r.Timesheet.state),
        Column(
            "submitted",
            "Submitted",
            Timesheet.submitted_at,
            "date",
            value=lambda r: r.Timesheet.submitted_at,
        ),
        updated_column(Timesheet),
    ],
    filters=[
        search_filter("Freelancer or engagement", Freelancer.display_name, Engagement.title),
        _state_filter(SHEET_STATES, Timesheet.state),
        _engagement_filter(Timesheet.engagement_id),
        id_filter(
            "freelancer_id",
            "Freelancer",
            lambda v: Timesheet.freelancer_id == v,
            "A freelancer id.",
        ),
        id_filter(
            "cost_centre_id",
            "Cost centre",
            _in_cost_centre,
            "A cost centre id: sheets whose engagement was booked to it that week.",
        ),
        Filter(
            "week_from",
            "Weeks from",
            apply=lambda s, v, c: s.where(Timesheet.week_end >= v),
            message="A date, such as 2026-12-01: weeks ending on or after it.",
            **DATE_FILTER,
        ),
        Filter(
            "week_to",
            "Weeks until",
            apply=lambda s, v, c: s.where(Timesheet.week_start <= v),
            message="A date, such as 2026-12-01: weeks starting on or before it.",
            **DATE_FILTER,
        ),
    ],
)


# --- milestones ----------------------------------------------------------------------------


def _milestones(session, actor, ctx):
    stmt = select(
        Milestone,
        Engagement.title.label("engagement"),
        Freelancer.display_name.label("freelancer"),
    ).join(Engagement, Engagement.id == Milestone.engagement_id)
    stmt = stmt.outerjoin(Freelancer, Freelancer.id == Engagement.freelancer_id)
    return _scoped(stmt, actor, Milestone.engagement_id)


MILESTONES = ListSpec(
    key="milestones",
    title="Milestones",
    statement=_milestones,
    tiebreak=Milestone.id.desc(),
    default_sort="due_date",
    columns=[
        Column("id", "ID", Milestone.id, "number", value=lambda r: r.Milestone.id, page=False),
        Column("title", "Milestone", Milestone.title, value=lambda r: r.Milestone.title),
        Column("engagement", "Engagement", Engagement.title, value=lambda r: r.engagement),
        Column("freelancer", "Freelancer", Freelancer.display_name, value=lambda r: r.freelancer),
        Column("due_date", "Due", Milestone.due_date, "date", value=lambda r: r.Milestone.due_date),
        Column(
            "amount",
            "Amount",
            Milestone.amount,
            "money",
            value=lambda r: amount(r.Milestone.amount, r.Milestone.currency),
        ),
        Column(
            "currency",
            "Currency",
            Milestone.currency,
            value=lambda r: r.Milestone.currency,
            page=False,
        ),
        Column("state", "Status", Milestone.state, "state", value=lambda r: r.Milestone.state),
    ],
    filters=[
        search_filter("Title", Milestone.title),
        _state_filter(MILESTONE_STATES, Milestone.state),
        _engagement_filter(Milestone.engagement_id),
    ],
)


# --- expenses ------------------------------------------------------------------------------


def _expenses(session, actor, ctx):
    stmt = select(
        Expense,
        Engagement.title.label("engagement"),
        Freelancer.display_name.label("freelancer"),
    ).join(Engagement, Engagement.id == Expense.engagement_id)
    stmt = stmt.outerjoin(Freelancer, Freelancer.id == Engagement.freelancer_id)
    return _scoped(stmt, actor, Expense.engagement_id)


EXPENSES = ListSpec(
    key="expenses",
    title="Expenses",
    statement=_expenses,
    tiebreak=Expense.id.desc(),
    default_sort="-spent_on",
    columns=[
        Column("id", "ID", Expense.id, "number", value=lambda r: r.Expense.id, page=False),
        Column("spent_on", "Date", Expense.spent_on, "date", value=lambda r: r.Expense.spent_on),
        Column("category", "Category", Expense.category, value=lambda r: r.Expense.category),
        Column("engagement", "Engagement", Engagement.title, value=lambda r: r.engagement),
        Column("freelancer", "Freelancer", Freelancer.display_name, value=lambda r: r.freelancer),
        Column(
            "amount",
            "Amount",
            Expense.amount,
            "money",
            value=lambda r: amount(r.Expense.amount, r.Expense.currency),
        ),
        Column(
            "currency", "Currency", Expense.currency, value=lambda r: r.Expense.currency, page=False
        ),
        Column("state", "Status", Expense.state, "state", value=lambda r: r.Expense.state),
    ],
    filters=[
        search_filter("Description", Expense.description),
        _state_filter(EXPENSE_STATES, Expense.state),
        _engagement_filter(Expense.engagement_id),
        Filter(
            "spent_from",
            "From",
            apply=lambda s, v, c: s.where(Expense.spent_on >= v),
            message="A date, such as 2026-12-01.",
            **DATE_FILTER,
        ),
        Filter(
            "spent_to",
            "Until",
            apply=lambda s, v, c: s.where(Expense.spent_on <= v),
            message="A date, such as 2026-12-01.",
            **DATE_FILTER,
        ),
    ],
)

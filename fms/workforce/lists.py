"""Workforce's lists (fms.lists specs): engagements, requisitions, the freelancer directory,
suppliers, skills, exchange rates and the structure units. Pages, exports and the API
read them the same way."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select

from fms.forms import id_arg
from fms.identity.models import User
from fms.input import parse_date, parse_int
from fms.lists import (
    TEXT_MESSAGE,
    Column,
    Filter,
    ListSpec,
    active_filter,
    search_filter,
    search_text,
    which_list,
)
from fms.money import minor_units
from fms.workforce import queries, rules
from fms.workforce.models import (
    CostCentre,
    Department,
    Engagement,
    ExchangeRate,
    Freelancer,
    FreelancerSkill,
    Location,
    Requisition,
    Skill,
    Supplier,
)

ENGAGEMENT_STATES = [
    "draft",
    "pending_approval",
    "approved",
    "onboarding",
    "active",
    "ended",
    "rejected",
    "cancelled",
]
REQUISITION_STATES = ["draft", "submitted", "approved", "rejected", "cancelled"]
REQUISITION_VIEWS = {"waiting": "Waiting for me", "mine": "My requests", "all": "All requisitions"}
_COUNTRY = re.compile(r"[A-Za-z]{2}", re.ASCII)
_CURRENCY = re.compile(r"[A-Za-z]{3}", re.ASCII)


def amount(value, currency: str | None) -> Decimal | None:
    """An exact amount for an export: at the currency's minor unit when nothing is lost,
    otherwise as exact as stored (a rate of 85.125 stays 85.125)."""
    if value is None:
        return None
    value = Decimal(value)
    digits = minor_units(currency) if currency else 2
    quantum = Decimal(1).scaleb(-digits)
    rounded = value.quantize(quantum)
    return rounded if rounded == value else value.normalize()


def _one_of(options):
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(text)
        return text

    return parse


def _country(text: str) -> str:
    if not _COUNTRY.fullmatch(text):
        raise ValueError(text)
    return text.upper()


def _currency(text: str) -> str:
    if not _CURRENCY.fullmatch(text):
        raise ValueError(text)
    return text.upper()


def _level(text: str) -> int:
    number = parse_int(text)
    if not 1 <= number <= 5:
        raise ValueError(text)
    return number


def _labels(values) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ").capitalize()) for v in values]


def _choice(key: str, label: str, values, column) -> Filter:
    """A select filter: the column equals one of `values`."""
    values = list(values)
    return Filter(
        key,
        label,
        _one_of(values),
        lambda s, v, c: s.where(column == v),
        choices=_labels(values),
        kind="select",
        message="One of: " + ", ".join(values) + ".",
    )


DATE_FILTER = {"parse": parse_date, "kind": "date", "api_type": "date"}


def id_filter(key: str, label: str, condition, message: str) -> Filter:
    """`?key=<id>`: the rows where `condition(id)` holds (a number box on the page)."""
    return Filter(
        key,
        label,
        id_arg,
        lambda s, v, c: s.where(condition(v)),
        kind="number",
        message=message,
        api_type="integer",
    )


# --- engagements ----------------------------------------------------------------------


def changed_since(stmt, column, ctx):
    """The API's `?updated_since=` (in the context, never a page filter): rows whose
    `updated_at` is at or after it."""
    since = ctx.get("updated_since")
    return stmt if since is None else stmt.where(column >= since)


def updated_column(model) -> Column:
    """`sort=updated`: by the last change, for the API and exports (not a page column)."""
    name = model.__name__
    return Column(
        "updated",
        "Changed",
        model.updated_at,
        "date",
        value=lambda r: getattr(r, name).updated_at,
        page=False,
    )


def _engagements(session, actor, ctx):
    stmt = queries.engagement_list_statement(ctx["today"])
    return changed_since(stmt, Engagement.updated_at, ctx)


ENGAGEMENTS = ListSpec(
    key="engagements",
    title="Engagements",
    permission="engagements.read",
    endpoint="workforce.engagements.index",
    statement=_engagements,
    tiebreak=Engagement.id.desc(),
    default_sort="-start_date",
    columns=[
        Column("id", "ID", Engagement.id, "number", value=lambda r: r.Engagement.id, page=False),
        Column("title", "Engagement", Engagement.title, value=lambda r: r.Engagement.title),
        Column(
            "kind", "Kind", Engagement.kind, "state", value=lambda r: r.Engagement.kind, page=False
        ),
        Column("freelancer", "Freelancer", Freelancer.display_name, value=lambda r: r.freelancer),
        Column("supplier", "Supplier", Supplier.name, value=lambda r: r.supplier),
        Column("manager", "Manager", User.name, value=lambda r: r.manager),
        Column("cost_centre", "Cost centre", CostCentre.code, value=lambda r: r.cost_centre),
        Column(
            "start_date",
            "Start",
            Engagement.start_date,
            "date",
            value=lambda r: r.Engagement.start_date,
        ),
        Column(
            "end_date", "End", Engagement.end_date, "date", value=lambda r: r.Engagement.end_date
        ),
        Column(
            "rate",
            "Rate",
            queries.EngagementTerms.rate,
            "rate",
            value=lambda r: amount(r.rate, r.Engagement.currency),
        ),
        Column(
            "currency",
            "Currency",
            Engagement.currency,
            value=lambda r: r.Engagement.currency,
            page=False,
        ),
        Column("state", "Status", Engagement.state, "state", value=lambda r: r.Engagement.state),
        updated_column(Engagement),
    ],
    filters=[
        search_filter("Search", Engagement.title, Freelancer.display_name),
        _choice("state", "Status", ENGAGEMENT_STATES, Engagement.state),
        _choice("kind", "Kind", rules.RATE_UNITS, Engagement.kind),
        Filter(
            "supplier_id",
            "Supplier",
            id_arg,
            lambda s, v, c: s.where(Engagement.supplier_id == v),
            kind="select",
            message="A supplier id.",
            lenient=True,
            api_type="integer",
        ),
        Filter(
            "manager",
            "Managed by",
            _one_of(["me"]),
            # the engagements the viewer manages today (the Overview links here)
            lambda s, v, c: s.where(
                queries.EngagementTerms.hiring_manager_user_id == c["actor"].user_id
            ),
            choices=[("me", "Me")],
            kind="select",
            message="Only 'me'.",
        ),
        id_filter(
            "freelancer_id",
            "Freelancer",
            lambda v: Engagement.freelancer_id == v,
            "A freelancer id.",
        ),
        # the cost centre of the terms the list shows (in effect today, or the first)
        id_filter(
            "cost_centre_id",
            "Cost centre",
            lambda v: queries.EngagementTerms.cost_centre_id == v,
            "A cost centre id.",
        ),
        Filter(
            "starts_from",
            "Starts from",
            apply=lambda s, v, c: s.where(Engagement.start_date >= v),
            message="A date, such as 2026-12-01.",
            **DATE_FILTER,
        ),
        Filter(
            "starts_to",
            "Starts until",
            apply=lambda s, v, c: s.where(Engagement.start_date <= v),
            message="A date, such as 2026-12-01.",
            **DATE_FILTER,
        ),
    ],
)


# --- requisitions ---------------------------------------------------------------------


def _requisitions(session, actor, ctx):
    stmt = queries.requisition_queue_statement(actor, ctx["values"].get("view", "all"))
    return changed_since(stmt, Requisition.updated_at, ctx)


REQUISITIONS = ListSpec(
    key="requisitions",
    title="Requisitions",
    permission="requisitions.read",
    endpoint="workforce.requisitions.index",
    statement=_requisitions,
    tiebreak=Requisition.id.desc(),
    default_sort="-created",
    columns=[
        Column("id", "ID", Requisition.id, "number", value=lambda r: r.Requisition.id, page=False),
        Column("title", "Role", Requisition.title, value=lambda r: r.Requisition.title),
        Column("requester", "Requested by", User.name, value=lambda r: r.requester),
        Column(
            "start_date",
            "Start",
            Requisition.start_date,
            "date",
            value=lambda r: r.Requisition.start_date,
        ),
        Column(
            "end_date", "End", Requisition.end_date, "date", value=lambda r: r.Requisition.end_date
        ),
        Column(
            "budget",
            "Budget",
            Requisition.budget,
            "money",
            value=lambda r: amount(r.Requisition.budget, r.Requisition.currency),
        ),
        Column(
            "currency",
            "Currency",
            Requisition.currency,
            value=lambda r: r.Requisition.currency,
            page=False,
        ),
        Column("state", "Status", Requisition.state, "state", value=lambda r: r.Requisition.state),
        Column("waiting_on", "Waiting on", None, value=lambda r: r.waiting_on),
        Column(
            "created",
            "Requested",
            Requisition.created_at,
            "date",
            value=lambda r: r.Requisition.created_at,
        ),
        updated_column(Requisition),
    ],
    filters=[
        Filter(
            "view",
            "Show",
            _one_of(list(REQUISITION_VIEWS)),
            lambda s, v, c: s,  # the statement reads it; the page's tabs choose it
            kind="hidden",
            message="One of: waiting, mine, all.",
        ),
        search_filter("Search", Requisition.title),
        _choice("state", "Status", REQUISITION_STATES, Requisition.state),
    ],
    bulk={"endpoint": "workforce.requisitions.bulk_approve", "label": "Approve"},
)


# --- the freelancer directory ---------------------------------------------------------

_RATINGS = queries.freelancer_ratings()


def _freelancers(session, actor, ctx):
    return select(
        Freelancer, _RATINGS.c.avg.label("rating"), _RATINGS.c.reviews.label("reviews")
    ).outerjoin(_RATINGS, _RATINGS.c.freelancer_id == Freelancer.id)


def _with_skill(stmt, skill_id, ctx):
    has_skill = select(FreelancerSkill.id).where(
        FreelancerSkill.freelancer_id == Freelancer.id,
        FreelancerSkill.skill_id == skill_id,
        FreelancerSkill.level >= (ctx["values"].get("min_level") or 1),
    )
    return stmt.where(has_skill.exists())


def _available(stmt, _value, ctx):
    values = ctx["values"]
    start = values.get("available_from") or values.get("available_to")
    end = values.get("available_to") or start
    busy = select(Engagement.id).where(
        Engagement.freelancer_id == Freelancer.id,
        Engagement.state.in_(rules.BOOKED_STATES),
        Engagement.start_date <= end,
        Engagement.end_date >= start,
    )
    return stmt.where(~busy.exists())


def _rating(row) -> Decimal | None:
    if row.rating is None:
        return None
    return Decimal(str(row.rating)).quantize(Decimal("0.01"))


FREELANCERS = ListSpec(
    key="freelancers",
    title="Freelancers",
    permission="freelancers.read",
    endpoint="workforce.freelancers",
    statement=_freelancers,
    tiebreak=Freelancer.id,
    default_sort="name",
    columns=[
        Column("id", "ID", Freelancer.id, "number", value=lambda r: r.Freelancer.id, page=False),
        Column("name", "Name", Freelancer.display_name, value=lambda r: r.Freelancer.display_name),
        Column("email", "Email", Freelancer.email, value=lambda r: r.Freelancer.email),
        Column("headline", "Headline", Freelancer.headline, value=lambda r: r.Freelancer.headline),
        Column("country", "Country", Freelancer.country, value=lambda r: r.Freelancer.country),
        Column("currency", "Currency", Freelancer.currency, value=lambda r: r.Freelancer.currency),
        Column("rating", "Rating", _RATINGS.c.avg, "number", unit="of 5", value=_rating),
        Column(
            "reviews",
            "Reviews",
            func.coalesce(_RATINGS.c.reviews, 0),
            "number",
            value=lambda r: r.reviews or 0,
        ),
    ],
    filters=[
        Filter(
            "q",
            "Name or email",
            search_text,
            lambda s, v, c: s.where(queries.freelancer_matches(v)),
            message=TEXT_MESSAGE,
        ),
        Filter(
            "skill_id",
            "Skill",
            id_arg,
            _with_skill,
            kind="select",
            message="A skill id.",
            lenient=True,
            api_type="integer",
        ),
        Filter(
            "min_level",
            "Level ≥",
            _level,
            lambda s, v, c: s,  # with skill_id
            choices=[(str(i), str(i)) for i in range(1, 6)],
            kind="select",
            message="A level from 1 to 5.",
            lenient=True,
            api_type="integer",
        ),
        Filter(
            "country",
            "Country",
            _country,
            lambda s, v, c: s.where(Freelancer.country == v),
            kind="select",
            message="A two-letter country code.",
        ),
        Filter(
            "available_from",
            "Free from",
            apply=_available,
            message="A date, such as 2026-12-01.",
            **DATE_FILTER,
        ),
        Filter(
            "available_to",
            "until",
            apply=lambda s, v, c: s if c["values"].get("available_from") else _available(s, v, c),
            message="A date, such as 2026-12-01.",
            **DATE_FILTER,
        ),
        Filter(
            "min_rating",
            "Rating ≥",
            _level,
            lambda s, v, c: s.where(_RATINGS.c.avg >= v),
            choices=[(str(i), f"{i}★") for i in range(1, 6)],
            kind="select",
            message="A rating from 1 to 5.",
            lenient=True,
            api_type="integer",
        ),
    ],
)


# --- suppliers, skills, exchange rates, structure -------------------------------------

SUPPLIERS = ListSpec(
    key="suppliers",
    title="Suppliers",
    permission="suppliers.read",
    endpoint="workforce.catalog.suppliers",
    statement=lambda session, actor, ctx: select(Supplier),
    tiebreak=Supplier.id,
    default_sort="name",
    columns=[
        Column("id", "ID", Supplier.id, "number", value=lambda r: r.Supplier.id, page=False),
        Column("name", "Supplier", Supplier.name, value=lambda r: r.Supplier.name),
        Column(
            "legal_name", "Legal name", Supplier.legal_name, value=lambda r: r.Supplier.legal_name
        ),
        Column("country", "Country", Supplier.country, value=lambda r: r.Supplier.country),
        Column(
            "tax_id",
            "Tax id",
            Supplier.tax_id,
            value=lambda r: r.Supplier.tax_id,
            field="supplier.tax_id",
        ),
        Column(
            "active",
            "Status",
            Supplier.is_active,
            "state",
            value=lambda r: "active" if r.Supplier.is_active else "archived",
        ),
    ],
    filters=[
        search_filter("Name", Supplier.name),
        Filter(
            "country",
            "Country",
            _country,
            lambda s, v, c: s.where(Supplier.country == v),
            message="A two-letter country code.",
        ),
        active_filter(Supplier.is_active),
    ],
)

SKILLS = ListSpec(
    key="skills",
    title="Skills",
    permission="freelancers.read",
    endpoint="workforce.catalog.settings",
    statement=lambda session, actor, ctx: select(Skill),
    tiebreak=Skill.id,
    default_sort="category",
    columns=[
        Column("id", "ID", Skill.id, "number", value=lambda r: r.Skill.id, page=False),
        Column("category", "Category", Skill.category, value=lambda r: r.Skill.category),
        Column("name", "Skill", Skill.name, value=lambda r: r.Skill.name),
    ],
    filters=[
        search_filter("Name", Skill.name, Skill.category),
    ],
)

EXCHANGE_RATES = ListSpec(
    key="exchange_rates",
    title="Exchange rates",
    permission="exchange_rates.read",
    endpoint="workforce.catalog.exchange_rates",
    statement=lambda session, actor, ctx: select(ExchangeRate),
    tiebreak=ExchangeRate.id,
    default_sort="currency",
    columns=[
        Column(
            "currency", "Currency", ExchangeRate.currency, value=lambda r: r.ExchangeRate.currency
        ),
        Column(
            "rate",
            "Rate",
            ExchangeRate.rate,
            "number",
            unit="per 1 of the base currency",
            value=lambda r: Decimal(r.ExchangeRate.rate).normalize(),
        ),
        Column(
            "effective_from",
            "Effective from",
            ExchangeRate.effective_from,
            "date",
            value=lambda r: r.ExchangeRate.effective_from,
        ),
    ],
    filters=[
        Filter(
            "currency",
            "Currency",
            _currency,
            lambda s, v, c: s.where(ExchangeRate.currency == v),
            message="A three-letter currency code.",
        ),
        Filter(
            "on_or_after",
            "From",
            apply=lambda s, v, c: s.where(ExchangeRate.effective_from >= v),
            message="A date, such as 2026-12-01.",
            **DATE_FILTER,
        ),
    ],
)


def _unit_spec(kind: str, model, title: str) -> ListSpec:
    columns = [
        Column("code", "Code", model.code, value=lambda r: getattr(r, model.__name__).code),
        Column("name", "Name", model.name, value=lambda r: getattr(r, model.__name__).name),
    ]
    if model is Location:
        columns.append(Column("city", "City", model.city, value=lambda r: r.Location.city))
        columns.append(
            Column("country", "Country", model.country, value=lambda r: r.Location.country)
        )
    columns.append(
        Column(
            "active",
            "Status",
            model.is_active,
            "state",
            value=lambda r: "active" if getattr(r, model.__name__).is_active else "archived",
        )
    )
    return ListSpec(
        key=kind,
        title=title,
        permission="structure.read",
        endpoint="workforce.structure",
        statement=lambda session, actor, ctx: select(model),
        tiebreak=model.id,
        default_sort="code",
        columns=columns,
        filters=[
            which_list(kind),
            search_filter("Code or name", model.code, model.name),
            active_filter(model.is_active),
        ],
    )


DEPARTMENTS = _unit_spec("departments", Department, "Departments")
COST_CENTRES = _unit_spec("cost_centres", CostCentre, "Cost centres")
LOCATIONS = _unit_spec("locations", Location, "Locations")

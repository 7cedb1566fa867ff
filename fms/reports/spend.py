"""Spend analytics: approved (accrued) and invoiced spend by period and by up to two
dimensions, in the organization's base currency or in the original currencies.

DESIGN.md's money rules, computed in SQL (GROUP BY; no item is loaded into Python):
- **Approved spend** is what the billable items approved so far are worth, priced as
  invoicing prices them (`fms.timesheets.pricing`, the source `fms.invoicing.close` bills):
  each day entry of an approved or invoiced sheet at the terms in effect on its work date
  (the engagement's time rounding applied per day; minutes beyond the standard day at the
  overtime rate when one is set; daily-rate engagements half days x rate / 2), approved
  adjustments (minutes at the day's rate, or their amount), accepted milestones and approved
  expenses. Items are grouped into lines as an invoice line of their month groups them
  (engagement x cost centre x kind x rate; also split where the department, location,
  hiring manager or exchange rate changes within the month) and each line's exact sum is
  rounded once, half-up, to the currency's minor unit; every report sums lines, so each
  grouping adds up to the same totals and a month billed whole shows its invoices' figures
  to the cent (weeks, for a week-grain report, are their own lines).
- **Invoiced spend** is the sum of the nets of issued invoice lines (issued, paid or
  credited invoices; the lines of issued credit notes count negative), in the billing
  period the invoice covers.
- **Base currency**: each line is converted at the exchange rate in effect on its work
  dates (an issued invoice line: its last work date) with the organization's effective-dated
  rates (Workforce's table), the rounded amount times the rate rounded half-up once, as
  `fms.workforce.validation.to_base_currency` does. An amount with no rate on its day is
  left in its own currency and named in `unconverted`.

Dimensions come from the terms in effect on the work date (cost centre, department,
location, hiring manager, and the bill-to entity of that cost centre), the engagement
(supplier, engagement), the freelancer (country; skill: their highest-level skill).
A fixed number of statements whatever the data size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from fms import money
from fms.errors import InvalidInput
from fms.identity.models import Organization, User
from fms.identity.permissions import require
from fms.input import parse_date
from fms.invoicing.models import BillToEntity, CostCentreBilling, Invoice, InvoiceLine
from fms.invoicing.rules import ISSUED_STATES
from fms.timekeeping import month_start
from fms.timesheets import rules as ts_rules
from fms.timesheets.models import Adjustment, Expense, Milestone, TimeRounding, Timesheet
from fms.timesheets.models import TimesheetEntry as Entry
from fms.workforce import rules as wf_rules
from fms.workforce.models import (
    CostCentre,
    Department,
    Engagement,
    EngagementTerms,
    ExchangeRate,
    Freelancer,
    FreelancerSkill,
    Location,
    Skill,
    Supplier,
)

DIMENSIONS = (
    "cost_centre",
    "department",
    "location",
    "country",
    "supplier",
    "skill",
    "hiring_manager",
    "engagement",
    "bill_to_entity",
)
DIMENSION_LABELS = {
    "cost_centre": "Cost centre",
    "department": "Department",
    "location": "Location",
    "country": "Country",
    "supplier": "Supplier",
    "skill": "Skill",
    "hiring_manager": "Hiring manager",
    "engagement": "Engagement",
    "bill_to_entity": "Bill-to entity",
}
GRAINS = ("week", "month", "quarter")
CURRENCY_MODES = ("base", "original")
NONE_LABEL = "(none)"
DIRECT = "Direct (no supplier)"
# the widest range one report covers (a longer one is a mistake, and a heavy query)
MAX_DAYS = 3 * 366 + 1
# what an approved item is in: the states after approval (invoicing moves them on)
APPROVED_SHEETS = ("approved", "invoiced")
APPROVED_ITEMS = {"adjustment": ("approved", "invoiced"), "milestone": ("accepted", "invoiced")}
APPROVED_ITEMS["expense"] = ("approved", "invoiced")

_EARLIEST = date(1, 1, 1)
_LATEST = date(9999, 12, 31)
_RATE_UNITS = 10**money.RATE_SCALE
_MONEY_UNITS = 10**money.MONEY_SCALE
_STANDARD_DAY = ts_rules.STANDARD_DAY_MINUTES
_LABELS_BY_ID = 500  # above this many keys, labels are read for the whole organization


@dataclass(frozen=True)
class SpendQuery:
    start: date  # first work date, inclusive
    end: date  # last work date, inclusive
    grain: str = "month"
    group_by: tuple[str, ...] = ()  # at most two of DIMENSIONS
    currency: str = "base"  # "base" (converted at the work date) or "original"

    def as_args(self) -> dict[str, str]:
        """The query as URL parameters (pages, the API and exports share them)."""
        args = {"from": self.start.isoformat(), "to": self.end.isoformat(), "grain": self.grain}
        if self.group_by:
            args["group_by"] = ",".join(self.group_by)
        args["currency"] = self.currency
        return args


@dataclass(frozen=True)
class SpendRow:
    period: str  # "2026-11" / "2026-W45" / "2026-Q4" / "total"
    period_start: date
    keys: tuple[str, ...]  # labels of the group_by dimensions, in order ("(none)" when unset)
    currency: str
    approved: Decimal  # approved (accrued) spend
    invoiced: Decimal  # issued invoice lines (credit notes negative)
    minutes: int
    fte: Decimal
    average_rate: Decimal | None  # approved / hours

    @property
    def hours(self) -> Decimal:
        return (Decimal(self.minutes) / 60).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class SpendReport:
    query: SpendQuery
    base_currency: str
    rows: list[SpendRow]
    totals: dict[str, SpendRow]  # per currency: the grand total (period "total", keys ())
    # currencies left unconverted in base mode (no exchange rate on some work date)
    unconverted: tuple[str, ...] = ()
    periods: list[tuple[str, date]] = field(default_factory=list)

    @property
    def currencies(self) -> list[str]:
        return sorted(self.totals, key=lambda c: (c != self.base_currency, c))


# --- parsing ------------------------------------------------------------------------------


def default_range(today: date) -> tuple[date, date]:
    """The last twelve months up to today: from the first day of the month eleven months
    before this one."""
    if today.month == 12:
        start = date(today.year, 1, 1)
    else:
        start = date(today.year - 1, today.month + 1, 1)
    return start, today


def parse_spend_query(args: Mapping[str, str], *, today: date) -> SpendQuery:
    """A SpendQuery from URL parameters (from, to, grain, group_by as a comma list,
    currency); missing ones take defaults (the last twelve months by month, in the base
    currency). Raises InvalidInput naming each bad field."""
    errors: dict[str, list[str]] = {}
    default_start, default_end = default_range(today)

    def day(name: str, default: date) -> date:
        raw = (args.get(name) or "").strip()
        if not raw:
            return default
        try:
            return parse_date(raw)
        except (ValueError, TypeError, InvalidInput):
            errors[name] = ["A date as YYYY-MM-DD."]
            return default

    start, end = day("from", default_start), day("to", default_end)
    if "from" not in errors and "to" not in errors:
        if end < start:
            errors["to"] = ["On or after the start date."]
        elif (end - start).days + 1 > MAX_DAYS:
            errors["to"] = ["At most three years after the start date."]
    grain = (args.get("grain") or "month").strip()
    if grain not in GRAINS:
        errors["grain"] = ["One of week, month or quarter."]
        grain = "month"
    raw_groups = (args.get("group_by") or "").strip()
    group_by = tuple(g.strip() for g in raw_groups.split(",") if g.strip()) if raw_groups else ()
    unknown = [g for g in group_by if g not in DIMENSIONS]
    if unknown:
        errors["group_by"] = ["Unknown: " + ", ".join(u[:40] for u in unknown[:3]) + "."]
        group_by = ()
    elif len(group_by) > 2:
        errors["group_by"] = ["At most two dimensions."]
        group_by = group_by[:2]
    elif len(set(group_by)) != len(group_by):
        errors["group_by"] = ["Each dimension once."]
        group_by = tuple(dict.fromkeys(group_by))
    currency = (args.get("currency") or "base").strip()
    if currency not in CURRENCY_MODES:
        errors["currency"] = ["base or original."]
        currency = "base"
    if errors:
        raise InvalidInput("Some report filters are not valid.", errors=errors)
    return SpendQuery(start=start, end=end, grain=grain, group_by=group_by, currency=currency)


# --- SQL building blocks ------------------------------------------------------------------


def period_start_expr(column, grain: str, dialect: str):
    """SQL: the first day of the week (Monday), month or quarter of a date column; "all"
    (for budgets: one bucket over the whole range) a constant."""
    if grain == "all":
        return literal(_EARLIEST, Date)
    if grain == "month":
        return month_start(column, dialect)
    if dialect == "postgresql":
        return func.date(func.date_trunc(literal_column(f"'{grain}'"), column))
    if grain == "week":
        return func.date(column, literal_column("'weekday 0'"), literal_column("'-6 days'"))
    months_back = (cast(func.strftime("%m", column), Integer) - 1) % 3
    return func.date(
        column, literal_column("'start of month'"), "-" + cast(months_back, String) + " months"
    )


def period_label(start: date, grain: str) -> str:
    if grain == "all":
        return "total"
    if grain == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-{start.month:02d}"


def period_starts(query: SpendQuery) -> list[date]:
    """Every period the range touches, in order (empty periods show as zeros)."""
    if query.grain == "all":
        return [_EARLIEST]
    first = _to_period_start(query.start, query.grain)
    result, current = [], first
    while current <= query.end:
        result.append(current)
        current = _next_period(current, query.grain)
    return result


def _to_period_start(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "quarter":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, day.month, 1)


def _next_period(start: date, grain: str) -> date:
    if grain == "week":
        return start + timedelta(days=7)
    step = 3 if grain == "quarter" else 1
    month = start.month - 1 + step
    return date(start.year + month // 12, month % 12 + 1, 1)


def _minor_factor(currency_column):
    """SQL: 10 ** the currency's minor-unit digits (EUR 100, JPY 1, KWD 1000)."""
    odd = {code: digits for code, digits in money._MINOR_UNITS_EXCEPTIONS.items()}
    whens = [(currency_column == code, 10**digits) for code, digits in sorted(odd.items())]
    return case(*whens, else_=100) if whens else literal(100)


class _int_div(FunctionElement):
    """a / b as an exact integer quotient (toward zero): `div()` over NUMERIC on PostgreSQL,
    so no product can overflow a BIGINT there; integer division on SQLite (64-bit)."""

    type = BigInteger()
    inherit_cache = True
    name = "int_div"


@compiles(_int_div)
def _int_div_default(element, compiler, **kw):
    a, b = list(element.clauses)
    a, b = compiler.process(a, **kw), compiler.process(b, **kw)
    return f"(CAST({a} AS INTEGER) / CAST({b} AS INTEGER))"


@compiles(_int_div, "postgresql")
def _int_div_postgresql(element, compiler, **kw):
    a, b = list(element.clauses)
    a, b = compiler.process(a, **kw), compiler.process(b, **kw)
    return f"div(CAST({a} AS NUMERIC), CAST({b} AS NUMERIC))"


def _round_div(numerator, denominator):
    """SQL: numerator / denominator rounded half-up (away from zero), exactly in integers
    (PostgreSQL's SUM of a bigint is a NUMERIC, whose `/` would not truncate)."""
    return case(
        (numerator >= 0, _int_div(numerator * 2 + denominator, denominator * 2)),
        else_=-_int_div(-numerator * 2 + denominator, denominator * 2),
    )


def _to_base(amount, fx, minor_from, base: str):
    """SQL: an amount (minor units of its currency, `minor_from` of them a unit) times an
    exchange rate (raw rate units), in minor units of the base currency, rounded half-up
    once, as `fms.workforce.validation.to_base_currency` converts."""
    return _round_div(amount * fx * 10 ** money.minor_units(base), minor_from * _RATE_UNITS)


def _per_minor(currency_column):
    """SQL: rate units per minor unit of the currency (10**6 / 10**digits, exact)."""
    return _RATE_UNITS // _minor_factor(currency_column)


def _raw(column):
    """A ScaledDecimal column as the integer units it holds."""
    return type_coerce(column, BigInteger)


def _terms_ranges(org_id: int):
    """Each terms row with the work dates it covers: from its effective date (the first
    row also before it, as pricing's `terms_for_day`) up to the next row's."""
    terms = select(
        EngagementTerms,
        case(
            (
                func.lag(EngagementTerms.effective_from)
                .over(
                    partition_by=EngagementTerms.engagement_id,
                    order_by=EngagementTerms.effective_from,
                )
                .is_(None),
                literal(_EARLIEST, Date),
            ),
            else_=EngagementTerms.effective_from,
        ).label("valid_from"),
        func.coalesce(
            func.lead(EngagementTerms.effective_from).over(
                partition_by=EngagementTerms.engagement_id,
                order_by=EngagementTerms.effective_from,
            ),
            literal(_LATEST, Date),
        ).label("valid_to"),
    ).where(EngagementTerms.org_id == org_id)
    return terms.subquery("terms")


def _fx_ranges(org_id: int):
    """Each exchange rate with the dates it covers (none before the first)."""
    return (
        select(
            ExchangeRate.currency,
            _raw(ExchangeRate.rate).label("rate"),
            ExchangeRate.effective_from.label("valid_from"),
            func.coalesce(
                func.lead(ExchangeRate.effective_from).over(
                    partition_by=ExchangeRate.currency, order_by=ExchangeRate.effective_from
                ),
                literal(_LATEST, Date),
            ).label("valid_to"),
        )
        .where(ExchangeRate.org_id == org_id)
        .subquery("fx")
    )


def _covers(ranges, day):
    return and_(ranges.c.valid_from <= day, ranges.c.valid_to > day)


def _dimension_keys(group_by, *, terms, engagement, freelancer, bill_to=None):
    """SQL expressions of the group keys (ids, or the country code)."""
    keys = []
    for name in group_by:
        if name == "cost_centre":
            keys.append(terms.c.cost_centre_id)
        elif name == "department":
            keys.append(terms.c.department_id)
        elif name == "location":
            keys.append(terms.c.location_id)
        elif name == "hiring_manager":
            keys.append(terms.c.hiring_manager_user_id)
        elif name == "country":
            keys.append(freelancer.country)
        elif name == "supplier":
            keys.append(engagement.supplier_id)
        elif name == "engagement":
            keys.append(engagement.id)
        elif name == "skill":
            keys.append(
                select(FreelancerSkill.skill_id)
                .where(FreelancerSkill.freelancer_id == freelancer.id)
                .order_by(FreelancerSkill.level.desc(), FreelancerSkill.skill_id)
                .limit(1)
                .correlate(freelancer)
                .scalar_subquery()
            )
        elif name == "bill_to_entity":
            keys.append(
                bill_to
                if bill_to is not None
                else select(CostCentreBilling.bill_to_entity_id)
                .where(CostCentreBilling.cost_centre_id == terms.c.cost_centre_id)
                .correlate(terms)
                .scalar_subquery()
            )
    return [key.label(f"k{n}") for n, key in enumerate(keys)]


# --- approved spend -----------------------------------------------------------------------


def billable_minutes_sql(minutes, mode):
    """SQL: a day's billable minutes under the engagement's rounding (rules.round_minutes)."""
    whens = []
    for name, rule in ts_rules.ROUNDING_MODES.items():
        if rule is None:
            continue
        step, how = rule
        add = step - 1 if how == "up" else step // 2
        whens.append((mode == name, (minutes + add) // step * step))
    return case(*whens, else_=minutes)


# The approved spend is computed in two steps. First *cells*: per month (or week, for a
# week-grain report) x engagement x the terms' dimensions x kind x rate x exchange rate,
# the exact sums (minutes for time; the exact numerator for adjustments, milestones and
# expenses). A cell is one *line*: what an invoice line of that month bills (an invoice
# line is per cost centre x PO x engagement x kind x rate), its exact sum rounded once,
# half-up, to the currency's minor unit (`amount`). Every report sums lines, so any
# grouping adds up to the same totals, a quarter is the sum of its months, and a month
# billed whole equals its invoices. A line is split where the invoice keeps one only when
# the department, location or hiring manager changes within the month, or an exchange
# rate does (each part rounded once).
# `fms.reports.rollup` keeps the lines of every month in its table; a report reads them
# for the months it covers whole, and for a partial month either computes the cells of
# its days from the raw rows or, when fewer days lie outside, takes the kept month minus
# the cells of the days outside (exact sums, so the difference is exact) and rounds that.
CELL_COLUMNS = (
    "day",  # first day of the cell's month (or week, for a week-grain report)
    "engagement_id",
    # the terms' dimensions on the items' dates (a line is split where they change)
    "cost_centre_id",
    "department_id",
    "location_id",
    "hiring_manager_user_id",
    "currency",
    "kind",  # time | adjustment | adjustment_amount | milestone | expense
    "daily",
    "line_rate",  # raw rate units (time: the terms' rate)
    "ot_rate",
    "per",
    "fx",
    "regular",
    "overtime",
    "half_days",
    "numerator",
    "minutes",
    "items",
)
CELL_SUMS = ("regular", "overtime", "half_days", "numerator", "minutes", "items")
CELL_KEY = tuple(c for c in CELL_COLUMNS if c not in CELL_SUMS)
# what the roll-up keeps: the cells with their amount, and that amount in the base currency
LINE_COLUMNS = (*CELL_COLUMNS, "amount", "base_amount")


def _terms_dimensions(terms) -> list:
    return [
        terms.c.cost_centre_id.label("cost_centre_id"),
        terms.c.department_id.label("department_id"),
        terms.c.location_id.label("location_id"),
        terms.c.hiring_manager_user_id.label("hiring_manager_user_id"),
    ]


def approved_cells(
    org_id: int, start: date, end: date, grain: str, dialect: str, engagement_ids=None
):
    """The cells (CELL_COLUMNS) of approved items with dates in start..end, by `grain`
    (month or week); only these engagements when given."""
    return union_all(*_cell_parts(org_id, start, end, grain, dialect, engagement_ids))


def _cell_parts(org_id, start, end, grain, dialect, engagement_ids=None) -> list:
    """approved_cells as the selects of its UNION ALL (day entries, then the others)."""
    terms = _terms_ranges(org_id)
    fx = _fx_ranges(org_id)
    rounding = aliased(TimeRounding)

    # day entries: one scan; per cell the time and the overtime sums
    billable = billable_minutes_sql(Entry.minutes, func.coalesce(rounding.mode, "none"))
    has_ot = terms.c.overtime_rate.isnot(None)
    regular = case((and_(has_ot, billable > _STANDARD_DAY), _STANDARD_DAY), else_=billable)
    overtime = case((and_(has_ot, billable > _STANDARD_DAY), billable - _STANDARD_DAY), else_=0)
    daily = Engagement.kind == "daily"
    half_days = func.coalesce(Entry.half_days, 0)
    regular = case((daily, 0), else_=regular)
    overtime = case((daily, 0), else_=overtime)
    half_days = case((daily, half_days), else_=0)
    entry_key = [
        period_start_expr(Entry.work_date, grain, dialect).label("day"),
        Entry.engagement_id.label("engagement_id"),
        *_terms_dimensions(terms),
        Engagement.currency.label("currency"),
        literal("time").label("kind"),
        daily.label("daily"),
        _raw(terms.c.rate).label("line_rate"),
        _raw(terms.c.overtime_rate).label("ot_rate"),
        literal(1).label("per"),
        fx.c.rate.label("fx"),
    ]
    entries = (
        select(
            *entry_key,
            func.sum(regular).label("regular"),
            func.sum(overtime).label("overtime"),
            func.sum(half_days).label("half_days"),
            literal(0).label("numerator"),
            func.sum(regular + overtime + half_days * ts_rules.HALF_DAY_MINUTES).label("minutes"),
            func.count().label("items"),
        )
        .select_from(Entry)
        .join(Timesheet, Timesheet.id == Entry.timesheet_id)
        .join(Engagement, Engagement.id == Entry.engagement_id)
        .join(
            terms,
            and_(terms.c.engagement_id == Entry.engagement_id, _covers(terms, Entry.work_date)),
        )
        .outerjoin(rounding, rounding.engagement_id == Engagement.id)
        .outerjoin(fx, and_(fx.c.currency == Engagement.currency, _covers(fx, Entry.work_date)))
        .where(
            Entry.org_id == org_id,
            Timesheet.state.in_(APPROVED_SHEETS),
            Entry.work_date >= start,
            Entry.work_date <= end,
        )
        .group_by(*range_positions(len(entry_key)))
    )
    if engagement_ids is not None:
        entries = entries.where(Entry.engagement_id.in_(engagement_ids))
    parts = [entries]

    # adjustments, milestones, expenses: each an exact numerator over a common divisor
    # (rate units x quantity / per), grouped as invoice lines are
    adj_daily = Engagement.kind == "daily"
    adj_per = case((adj_daily, ts_rules.STANDARD_DAY_MINUTES), else_=60)
    for kind_name, model, day, numerator, line_rate, per, kind, minutes, currency in (
        (
            "adjustment",
            Adjustment,
            Adjustment.work_date,
            case(
                (
                    Adjustment.minutes.isnot(None),
                    _raw(terms.c.rate) * Adjustment.minutes,
                ),
                else_=_raw(Adjustment.amount) * (_RATE_UNITS // _MONEY_UNITS),
            ),
            case((Adjustment.minutes.isnot(None), _raw(terms.c.rate)), else_=0),
            case((Adjustment.minutes.isnot(None), adj_per), else_=1),
            case((Adjustment.minutes.isnot(None), "adjustment"), else_="adjustment_amount"),
            func.coalesce(Adjustment.minutes, 0),
            Adjustment.currency,
        ),
        (
            "milestone",
            Milestone,
            Milestone.due_date,
            _raw(Milestone.amount) * (_RATE_UNITS // _MONEY_UNITS),
            _raw(Milestone.amount),
            literal(1),
            literal("milestone"),
            literal(0),
            Milestone.currency,
        ),
        (
            "expense",
            Expense,
            Expense.spent_on,
            _raw(Expense.amount) * (_RATE_UNITS // _MONEY_UNITS),
            _raw(Expense.amount),
            literal(1),
            literal("expense"),
            literal(0),
            Expense.currency,
        ),
    ):
        states = APPROVED_ITEMS[kind_name]
        key = [
            period_start_expr(day, grain, dialect).label("day"),
            model.engagement_id.label("engagement_id"),
            *_terms_dimensions(terms),
            currency.label("currency"),
            kind.label("kind"),
            literal(False).label("daily"),
            line_rate.label("line_rate"),
            cast(null(), BigInteger).label("ot_rate"),
            per.label("per"),
            fx.c.rate.label("fx"),
        ]
        part = (
            select(
                *key,
                literal(0).label("regular"),
                literal(0).label("overtime"),
                literal(0).label("half_days"),
                func.sum(numerator).label("numerator"),
                func.sum(minutes).label("minutes"),
                func.count().label("items"),
            )
            .select_from(model)
            .join(Engagement, Engagement.id == model.engagement_id)
            .join(terms, and_(terms.c.engagement_id == Engagement.id, _covers(terms, day)))
            .outerjoin(fx, and_(fx.c.currency == currency, _covers(fx, day)))
            .where(model.org_id == org_id, model.state.in_(states), day >= start)
            .where(day <= end)
            .group_by(*range_positions(len(key)))
        )
        if engagement_ids is not None:
            part = part.where(model.engagement_id.in_(engagement_ids))
        parts.append(part)
    return parts


def priced(cells, base: str):
    """The cells of a subquery (CELL_COLUMNS) with their line amount: the exact sum rounded
    once, half-up, in minor units of the cell's currency (time and overtime each rounded,
    as their two invoice lines; a daily rate per half day); and that amount in the base
    currency `base`, converted at the cell's exchange rate and rounded once (None: no rate
    on its days)."""
    # in layers, each naming what the next reads: the rounding repeats its operands, and
    # repeated expressions would make the statement's text grow with every layer
    with_minor = select(
        *[cells.c[c] for c in CELL_COLUMNS], _minor_factor(cells.c.currency).label("minor")
    ).subquery("cells_minor")
    c = with_minor.c
    per_minor = _RATE_UNITS // c.minor
    time_amount = _round_div(c.line_rate * c.regular, per_minor * 60)
    ot_amount = case(
        (c.ot_rate.isnot(None), _round_div(c.ot_rate * c.overtime, per_minor * 60)), else_=0
    )
    day_amount = _round_div(c.line_rate * c.half_days, per_minor * 2)
    other_amount = _round_div(c.numerator, c.per * per_minor)
    amount = case(
        (c.kind != "time", other_amount), (c.daily, day_amount), else_=time_amount + ot_amount
    )
    amounts = select(*[c[name] for name in CELL_COLUMNS], c.minor, amount.label("amount")).subquery(
        "cells_amount"
    )
    a = amounts.c
    in_base = case(
        (a.currency == base, a.amount),
        (a.fx.isnot(None), _to_base(a.amount, a.fx, a.minor, base)),
        else_=null(),
    )
    return select(*[a[name] for name in CELL_COLUMNS], a.amount, in_base.label("base_amount"))


def _month_end(month: date) -> date:
    return _next_period(month, "month") - timedelta(days=1)


def _line_sources(
    org_id: int, start: date, end: date, grain: str, dialect: str, kept, base: str
) -> list:
    """Selects of the lines (LINE_COLUMNS) of the approved items dated start..end: whole
    months from the roll-up (`kept`, see rollup.kept_lines), partial months from the raw
    rows, or from the kept month minus the raw rows of the days outside the range,
    whichever reads fewer days; everything from the raw rows without a roll-up."""
    if grain == "week" or kept is None:
        cell_grain = "week" if grain == "week" else "month"
        cells = approved_cells(org_id, start, end, cell_grain, dialect).subquery("raw_cells")
        return [priced(cells, base)]
    sources = []
    months = []
    month = date(start.year, start.month, 1)
    while month <= end:
        months.append(month)
        month = _next_period(month, "month")
    whole = [m for m in months if start <= m and _month_end(m) <= end]
    if whole:
        sources.append(kept.lines(whole[0], whole[-1]))
    for month in months:
        if month in whole:
            continue
        first, last = max(start, month), min(end, _month_end(month))
        inside = (last - first).days + 1
        outside = (_month_end(month) - month).days + 1 - inside
        if inside <= outside:
            cells = approved_cells(org_id, first, last, "month", dialect).subquery("edge")
            sources.append(priced(cells, base))
            continue
        # the kept month minus the days outside the range: exact sums, then rounded
        parts = [kept.cells(month)]
        for lo, hi in ((month, first - timedelta(days=1)), (last + timedelta(days=1), None)):
            hi = hi or _month_end(month)
            if lo <= hi:
                out = approved_cells(org_id, lo, hi, "month", dialect).subquery("outside")
                parts.append(
                    select(
                        *[out.c[c] for c in CELL_KEY], *[(-out.c[c]).label(c) for c in CELL_SUMS]
                    )
                )
        both = union_all(*parts).subquery("month_parts")
        net = (
            select(
                *[both.c[c] for c in CELL_KEY], *[func.sum(both.c[c]).label(c) for c in CELL_SUMS]
            )
            .group_by(*range_positions(len(CELL_KEY)))
            .having(func.sum(both.c["items"]) != 0)
            .subquery("edge")
        )
        sources.append(priced(net, base))
    return sources


def _approved_statement(org_id: int, query: SpendQuery, base: str, dialect: str, *, kept=None):
    """One statement: approved spend per period x group x currency (minor units; in base
    mode each line's amount in the base currency, a line with no rate kept in its own),
    with the minutes worked: the lines of the range (`_line_sources`; `kept`: the roll-up,
    or None for the raw rows) summed."""
    sources = _line_sources(org_id, query.start, query.end, query.grain, dialect, kept, base)
    # a subquery, not a CTE: PostgreSQL then estimates its rows (and hashes the groups)
    lines = (union_all(*sources) if len(sources) > 1 else sources[0]).subquery("spend_lines")
    keys = _dimension_keys(
        query.group_by, terms=lines, engagement=Engagement, freelancer=Freelancer
    )
    keys = [
        lines.c.engagement_id.label(k.name) if name == "engagement" else k
        for name, k in zip(query.group_by, keys, strict=True)
    ]
    # lines start a month (or a week, for weeks): a month's period is the line's day
    same = query.grain in ("month", "week")
    period = lines.c.day if same else period_start_expr(lines.c.day, query.grain, dialect)
    if query.currency == "base":
        unconverted = lines.c.base_amount.is_(None)
        currency = case((unconverted, lines.c.currency), else_=literal(base))
        amount = func.coalesce(lines.c.base_amount, lines.c.amount)
        missing = func.max(case((unconverted, 1), else_=0))
    else:
        currency, amount, missing = lines.c.currency, lines.c.amount, literal(0)
    stmt = select(
        period.label("period"),
        *keys,
        currency.label("currency"),
        func.sum(amount).label("amount"),
        func.sum(lines.c.minutes).label("minutes"),
        missing.label("missing"),
    ).select_from(lines)
    # join only what the groups need (the default view: none)
    needs = set(query.group_by)
    by_freelancer = bool(needs & {"country", "skill"})
    if by_freelancer or "supplier" in needs:
        stmt = stmt.join(Engagement, Engagement.id == lines.c.engagement_id)
    if by_freelancer:
        stmt = stmt.outerjoin(Freelancer, Freelancer.id == Engagement.freelancer_id)
    return stmt.group_by(*range_positions(2 + len(keys)))


def without_jit(session: Session) -> None:
    """PostgreSQL: no JIT compilation for the rest of this transaction. The report statements
    carry long CASE expressions (minor units, rounding); compiling them cost 10.5 s of a
    16.7 s raw-row year report at 10,000 freelancers (6.8 s without), and nothing here runs
    long enough to win it back."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def range_positions(n: int):
    """GROUP BY 1, 2, ... n (the select's first n columns), on both databases."""
    return [literal_column(str(i)) for i in range(1, n + 1)]


def _converted_totals(lines, key_names, base: str, convert: bool):
    """Sum line amounts per period x group x currency; in base mode each line converted at
    its rate (rounded once), a line with no rate kept in its currency."""
    lines = lines.subquery("lines")
    if convert:
        # amount (minor units of its currency) x rate, into minor units of the base
        converted = _to_base(lines.c.amount, lines.c.fx, _minor_factor(lines.c.currency), base)
        same = lines.c.currency == base
        currency = case((or_(same, lines.c.fx.isnot(None)), base), else_=lines.c.currency)
        amount = case(
            (same, lines.c.amount), (lines.c.fx.isnot(None), converted), else_=lines.c.amount
        )
    else:
        currency, amount = lines.c.currency, lines.c.amount
    stmt = select(
        lines.c.period,
        *[lines.c[k] for k in key_names],
        currency.label("currency"),
        func.sum(amount).label("amount"),
        func.sum(lines.c.minutes).label("minutes"),
        func.max(case((and_(lines.c.currency != base, lines.c.fx.is_(None)), 1), else_=0)).label(
            "missing"
        ),
    )
    return stmt.group_by(*range_positions(2 + len(key_names)))


# --- invoiced spend -----------------------------------------------------------------------


def _invoiced_statement(org_id: int, query: SpendQuery, base: str, dialect: str):
    """One statement: issued invoice lines (credit notes negative) per billing period x group
    x currency, in minor units."""
    terms = _terms_ranges(org_id)
    fx = _fx_ranges(org_id)
    convert = query.currency == "base"
    work_day = func.coalesce(InvoiceLine.last_date, Invoice.period_end)
    keys = _dimension_keys(
        query.group_by,
        terms=terms,
        engagement=Engagement,
        freelancer=Freelancer,
        bill_to=Invoice.bill_to_entity_id,
    )
    # the line's own cost centre (what the invoice billed), not the terms'
    own = {"cost_centre": InvoiceLine.cost_centre_id, "engagement": InvoiceLine.engagement_id}
    keys = [
        own[name].label(k.name) if name in own else k
        for name, k in zip(query.group_by, keys, strict=True)
    ]
    sign = case((Invoice.kind == "credit_note", -1), else_=1)
    minor = _minor_factor(Invoice.currency)
    # nets are stored rounded to the minor unit: exact in minor units
    amount = sign * _int_div(_raw(InvoiceLine.net), _MONEY_UNITS // minor)
    stmt = (
        select(
            period_start_expr(Invoice.period_start, query.grain, dialect).label("period"),
            *keys,
            Invoice.currency.label("currency"),
            (fx.c.rate if convert else null()).label("fx"),
            amount.label("amount"),
            literal(0).label("minutes"),
        )
        .select_from(InvoiceLine)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            InvoiceLine.org_id == org_id,
            Invoice.state.in_(ISSUED_STATES),
            Invoice.period_start >= query.start,
            Invoice.period_start <= query.end,
        )
    )
    # join only what the groups need (the default view: none)
    needs = set(query.group_by)
    if needs & {"supplier", "country", "skill"}:
        stmt = stmt.outerjoin(Engagement, Engagement.id == InvoiceLine.engagement_id)
    if needs & {"country", "skill"}:
        stmt = stmt.outerjoin(Freelancer, Freelancer.id == Engagement.freelancer_id)
    if needs & {"department", "location", "hiring_manager"}:
        stmt = stmt.outerjoin(
            terms,
            and_(terms.c.engagement_id == InvoiceLine.engagement_id, _covers(terms, work_day)),
        )
    if convert:
        stmt = stmt.outerjoin(fx, and_(fx.c.currency == Invoice.currency, _covers(fx, work_day)))
    return _converted_totals(stmt, [k.name for k in keys], base, convert)


# --- the report ---------------------------------------------------------------------------


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _amount(minor: int, currency: str) -> Decimal:
    return Decimal(int(minor or 0)).scaleb(-money.minor_units(currency))


def spend_report(session: Session, *, actor, query: SpendQuery) -> SpendReport:
    """Approved and invoiced spend, hours, FTE and average rate per period x group x
    currency, with grand totals per currency (four statements at most whatever the data:
    the organization, approved, invoiced, and the labels of each grouping)."""
    require(actor, "reports.spend")
    without_jit(session)
    org = session.get(Organization, actor.org_id)
    base = org.base_currency
    dialect = session.get_bind().dialect.name
    standard_week = org.standard_week_minutes or 2400
    width = len(query.group_by)
    cells: dict[tuple, dict] = {}
    missing: set[str] = set()
    kept = _kept(session, actor.org_id, query.grain)
    for measure, stmt in (
        ("approved", _approved_statement(actor.org_id, query, base, dialect, kept=kept)),
        ("invoiced", _invoiced_statement(actor.org_id, query, base, dialect)),
    ):
        for row in session.execute(stmt):
            period, *key_ids = row[: 1 + width]
            currency, amount, minutes, absent = row[1 + width :]
            key = (_as_date(period), tuple(key_ids), currency)
            cell = cells.setdefault(key, {"approved": 0, "invoiced": 0, "minutes": 0})
            cell[measure] += int(amount or 0)
            if measure == "approved":
                cell["minutes"] += int(minutes or 0)
            if absent:
                missing.add(currency)
    labels = [
        _labels(session, name, {k[1][n] for k in cells}) for n, name in enumerate(query.group_by)
    ]
    period_days = {start: _days_in(start, query) for start in {key[0] for key in cells}}
    rows = []
    totals: dict[str, dict] = {}
    for (start, key_ids, currency), cell in cells.items():
        rows.append(
            _row(
                period_label(start, query.grain),
                start,
                tuple(labels[n].get(k, NONE_LABEL) for n, k in enumerate(key_ids)),
                currency,
                cell,
                period_days.get(start, 1),
                standard_week,
            )
        )
        total = totals.setdefault(currency, {"approved": 0, "invoiced": 0, "minutes": 0})
        for measure in total:
            total[measure] += cell[measure]
    rows.sort(key=lambda r: (r.period_start, r.currency != base, r.currency, r.keys))
    all_days = (query.end - query.start).days + 1
    return SpendReport(
        query=query,
        base_currency=base,
        rows=rows,
        totals={
            currency: _row("total", query.start, (), currency, cell, all_days, standard_week)
            for currency, cell in sorted(totals.items())
        },
        unconverted=tuple(sorted(missing)) if query.currency == "base" else (),
        periods=[(period_label(s, query.grain), s) for s in period_starts(query)],
    )


@dataclass(frozen=True)
class TopGroup:
    label: str
    currency: str
    approved: Decimal


def top_groups(
    session: Session, *, actor, query: SpendQuery, currency: str, limit: int = 10
) -> list[TopGroup]:
    """The `limit` groups of one dimension (query.group_by) with the most approved spend in
    `currency` over the whole range, largest first (ties by key): ordered and cut in SQL,
    so the engagements of a large organization are never all loaded."""
    require(actor, "reports.spend")
    if len(query.group_by) != 1:
        raise ValueError("top_groups takes one dimension")
    without_jit(session)
    org = session.get(Organization, actor.org_id)
    dialect = session.get_bind().dialect.name
    kept = _kept(session, actor.org_id, query.grain)
    whole = dataclasses.replace(query, grain="all")
    sums = _approved_statement(actor.org_id, whole, org.base_currency, dialect, kept=kept)
    sums = sums.subquery("sums")
    rows = session.execute(
        select(sums.c.k0, sums.c.amount)
        .where(sums.c.currency == currency, sums.c.amount > 0)
        .order_by(sums.c.amount.desc(), sums.c.k0)
        .limit(limit)
    ).all()
    labels = _labels(session, query.group_by[0], {key for key, _ in rows})
    return [
        TopGroup(labels.get(key, NONE_LABEL), currency, _amount(amount, currency))
        for key, amount in rows
    ]


def _kept(session: Session, org_id: int, grain: str):
    """The organization's kept lines for a report by month, quarter or the whole range
    (None: a week-grain report, or no roll-up built; the raw rows give everything)."""
    if grain == "week":
        return None
    from fms.reports import rollup  # the roll-up builds on this module's cells

    return rollup.kept_lines(session, org_id)


def _days_in(start: date, query: SpendQuery) -> int:
    """The days of a period that lie within the report's range (FTE's denominator)."""
    if query.grain == "all":
        return (query.end - query.start).days + 1
    end = _next_period(start, query.grain) - timedelta(days=1)
    return max(1, (min(end, query.end) - max(start, query.start)).days + 1)


def _row(period, start, keys, currency, cell, days, standard_week) -> SpendRow:
    approved = _amount(cell["approved"], currency)
    minutes = cell["minutes"]
    # FTE: the minutes worked over a standard week's minutes for each week of the period
    fte = (Decimal(minutes) * 7 / (Decimal(standard_week) * days)).quantize(Decimal("0.01"))
    rate = (approved * 60 / minutes).quantize(Decimal("0.01")) if minutes else None
    return SpendRow(
        period=period,
        period_start=start,
        keys=keys,
        currency=currency,
        approved=approved,
        invoiced=_amount(cell["invoiced"], currency),
        minutes=minutes,
        fte=fte,
        average_rate=rate,
    )


def _labels(session: Session, name: str, keys) -> dict:
    """Display labels of one grouping's keys: one statement at most."""
    keys = {k for k in keys if k is not None}
    if name == "country":
        return {k: k for k in keys}
    labels: dict = {None: DIRECT} if name == "supplier" else {}
    if not keys:
        return labels
    model, column = {
        "cost_centre": (CostCentre, CostCentre.name),
        "department": (Department, Department.name),
        "location": (Location, Location.name),
        "supplier": (Supplier, Supplier.name),
        "hiring_manager": (User, User.name),
        "skill": (Skill, Skill.name),
        "engagement": (Engagement, Engagement.title),
        "bill_to_entity": (BillToEntity, BillToEntity.name),
    }[name]
    stmt = select(model.id, column)
    # a long list of ids costs more to send and plan than reading the organization's rows
    if len(keys) <= _LABELS_BY_ID or not hasattr(model, "org_id"):
        stmt = stmt.where(model.id.in_(keys))
    for key, label in session.execute(stmt):
        if key not in keys:
            continue
        if name == "engagement":
            label = f"{wf_rules.display_number('engagement', key)} · {label}"
        labels[key] = label
    return labels

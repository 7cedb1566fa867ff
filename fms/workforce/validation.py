"""Checks shared by requisitions and engagements: kinds, dates, rates, org structure."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms import money
from fms.errors import RuleViolation
from fms.identity.models import Organization
from fms.input import DATE_MESSAGE, parse_date, parse_int
from fms.tenancy import MAX_ID
from fms.workforce import rules
from fms.workforce.models import CostCentre, Department, ExchangeRate, Location
from fms.workforce.queries import workforce_settings

MAX_WEEKLY_MINUTES = rules.MAX_WEEKLY_MINUTES
MAX_AMOUNT = 10**12
# rates (hourly rates, exchange rates) are stored with six decimal places (money.RATE_SCALE)
RATE_PLACES = money.RATE_SCALE
AMOUNT_MESSAGE = "A positive amount below 1,000,000,000,000 in ASCII digits, such as 95.00."


def date_in(value):
    """A date within the business range (fms.input) from a date or ISO text; None when
    absent or not such a date."""
    if value in (None, ""):
        return None
    try:
        return parse_date(value)
    except ValueError:
        return None


def amount_in(value):
    """An exact positive amount below the columns' bound; None when absent or invalid."""
    if value in (None, ""):
        return None
    try:
        number = money.to_decimal(value)
    except (TypeError, ValueError):
        return None
    # rates and budgets beyond a trillion are typos, and would not fit the columns
    return number if 0 < number < MAX_AMOUNT else None


def has_places(number, places: int) -> bool:
    """Whether a (bounded) Decimal has at most `places` decimal places."""
    return number == number.quantize(money.Decimal(1).scaleb(-places))


def optional_rate_in(value, errors: dict, name: str):
    """An optional rate: None when absent; given but not a positive amount with at most six
    decimals, a field error (never silently stored as null)."""
    if value in (None, ""):
        return None
    number = amount_in(value)
    if number is None:
        errors[name] = [AMOUNT_MESSAGE]
    elif not has_places(number, RATE_PLACES):
        errors[name] = ["At most six decimal places."]
    return number


def _unit(session: Session, model, value):
    try:
        unit_id = parse_int(value)
    except ValueError:
        return None
    if not 0 < unit_id <= MAX_ID:
        return None
    unit = session.scalar(select(model).where(model.id == unit_id, model.is_active.is_(True)))
    return unit.id if unit else None


def check_terms(session: Session, fields: dict, errors: dict, *, rate_fields=("rate",)) -> dict:
    """Validate kind, structure, dates, weekly time, currency and rates; collect errors."""
    values: dict = {}
    kind = fields.get("kind")
    if kind not in rules.ENGAGEMENT_KINDS:
        errors["kind"] = ["Choose a kind of engagement."]
    values["kind"] = kind
    for name, model, label in (
        ("department_id", Department, "department"),
        ("cost_centre_id", CostCentre, "cost centre"),
        ("location_id", Location, "location"),
    ):
        values[name] = _unit(session, model, fields.get(name))
        if values[name] is None:
            errors[name] = [f"Choose an active {label}."]
    start, end = date_in(fields.get("start_date")), date_in(fields.get("end_date"))
    if start is None:
        errors["start_date"] = [DATE_MESSAGE]
    if end is None:
        errors["end_date"] = [DATE_MESSAGE]
    elif start is not None and end < start:
        errors["end_date"] = ["Must not be before the start date."]
    values.update(start_date=start, end_date=end)
    try:
        minutes = parse_int(fields.get("weekly_minutes"))
    except ValueError:
        minutes = None
    if minutes is None or not 0 < minutes <= MAX_WEEKLY_MINUTES:
        errors["weekly_minutes"] = ["Expected time per week, between 1 minute and 80 hours."]
    values["weekly_minutes"] = minutes
    try:
        values["currency"] = money.check_currency(fields.get("currency") or "")
    except money.CurrencyError:
        errors["currency"] = ["An ISO 4217 currency code such as EUR."]
        values["currency"] = None
    for name in rate_fields:
        values[name] = amount_in(fields.get(name))
        if values[name] is None:
            errors[name] = [AMOUNT_MESSAGE]
        elif not has_places(values[name], RATE_PLACES):
            errors[name] = ["At most six decimal places."]
    if kind == "trial" and start and end and not errors.get("end_date"):
        limit = workforce_settings(session).trial_max_days
        if (end - start).days + 1 > limit:
            errors["end_date"] = [f"A trial engagement lasts at most {limit} days."]
    return values


def exchange_rate_on(session: Session, currency: str, on: date) -> ExchangeRate | None:
    return session.scalar(
        select(ExchangeRate)
        .where(ExchangeRate.currency == currency, ExchangeRate.effective_from <= on)
        .order_by(ExchangeRate.effective_from.desc())
        .limit(1)
    )


def to_base_currency(session: Session, *, actor, amount, currency: str, on: date):
    """An amount in the organization's base currency, at the rate in effect on that day."""
    org = session.get(Organization, actor.org_id)
    if currency == org.base_currency:
        return amount
    rate = exchange_rate_on(session, currency, on)
    if rate is None:
        raise RuleViolation(
            f"There is no {currency}→{org.base_currency} exchange rate for {on.isoformat()}; "
            "ask finance to add one under Exchange rates."
        )
    return money.round_half_up(money.EXACT.multiply(amount, rate.rate), org.base_currency)

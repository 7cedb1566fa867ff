"""Checks shared by requisitions and engagements: kinds, dates, rates, org structure."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from fms import money
from fms.errors import RuleViolation
from fms.identity.models import Organization
from fms.tenancy import MAX_ID
from fms.workforce import rules
from fms.workforce.models import CostCentre, Department, ExchangeRate, Location
from fms.workforce.queries import workforce_settings

MAX_WEEKLY_MINUTES = 80 * 60
MAX_AMOUNT = 10**12


def date_in(value):
    """A date from a date or ISO text; None when absent or not a date."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
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


def _unit(session: Session, model, value):
    try:
        unit_id = int(value)
    except (TypeError, ValueError, OverflowError):
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
        errors["start_date"] = ["A date such as 2026-12-01."]
    if end is None:
        errors["end_date"] = ["A date such as 2027-05-31."]
    elif start is not None and end < start:
        errors["end_date"] = ["Must not be before the start date."]
    values.update(start_date=start, end_date=end)
    try:
        minutes = int(fields.get("weekly_minutes"))
    except (TypeError, ValueError):
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
            errors[name] = ["A positive amount such as 95.00."]
        elif values[name] != values[name].quantize(money.Decimal("0.000001")):
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

"""Time: UTC timestamps that come back aware on every database, and integer minutes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, func, literal_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC, always returned timezone-aware.

    SQLite hands back naive datetimes; the audit chain's hashes must not differ by
    database, so both sides are normalised here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def month_start(column, dialect_name: str):
    """SQL expression truncating a date or timestamp to its month, on either database."""
    if dialect_name == "postgresql":
        kind = column.type
        if isinstance(kind, UTCDateTime) or (isinstance(kind, DateTime) and kind.timezone):
            # a timestamptz truncates in the session's time zone: take the UTC wall clock
            column = func.timezone("UTC", column)
        # a literal, so two separately built expressions still GROUP BY as one
        return func.date(func.date_trunc(literal_column("'month'"), column))
    return func.date(column, literal_column("'start of month'"))


def minutes_from_hours(hours) -> int:
    """Whole minutes from a number of hours given as str/int/Decimal ("7.5" -> 450)."""
    from fractions import Fraction

    from fms.money import to_decimal

    value = Fraction(to_decimal(hours)) * 60  # exact, whatever the decimal context
    if value.denominator != 1:
        raise ValueError(f"{hours} hours is not a whole number of minutes")
    return int(value)


def format_minutes(minutes: int) -> str:
    """450 -> '7:30'."""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}:{rest:02d}"


def today_in(timezone: str):
    """Today's date in a timezone (working days are dates in the organization's timezone)."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(timezone)).date()

"""Pieces every domain's API shares: pagination, money fields, the strict input fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate

from fms import money
from fms.input import (
    DATE_MESSAGE,
    DATE_PATTERN,
    DATE_RANGE_TEXT,
    MAX_DATE,
    MIN_DATE,
    parse_date,
    parse_int,
)
from fms.tenancy import MAX_ID


class Integer(fields.Integer):
    """A whole number exactly as sent (fms.input.parse_int): a JSON integer, or ASCII digits
    (as in a query string; `strict=True` refuses those too); never a float, even 1.0, which
    marshmallow would truncate, and never another script's digits. Every input schema takes
    integers through this field."""

    default_error_messages = {"invalid": "A whole number (an integer, not 1.5 or 1.0)."}

    def _validated(self, value):
        if self.strict and isinstance(value, str):
            raise self.make_error("invalid", input=value)
        try:
            return parse_int(value)
        except ValueError:
            raise self.make_error("invalid", input=value) from None


class Date(fields.Date):
    """A date within the business range (fms.input.MIN_DATE..MAX_DATE), as YYYY-MM-DD in
    ASCII digits; documented with the range's pattern. Every input schema takes dates
    through this field."""

    default_error_messages = {"invalid": DATE_MESSAGE}

    def __init__(self, **kwargs):
        metadata = dict(kwargs.pop("metadata", None) or {})
        described = metadata.get("description", "")
        metadata["description"] = f"{described} A date {DATE_RANGE_TEXT}.".strip()
        metadata.setdefault("pattern", DATE_PATTERN)
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid", input=value)
        try:
            return parse_date(value)
        except ValueError:
            raise self.make_error("invalid", input=value) from None


# RFC 3339 date-time, ASCII digits, with its offset (a time without one means nothing here)
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
TIMESTAMP_MESSAGE = (
    f"A date and time with its offset (RFC 3339) {DATE_RANGE_TEXT}, such as "
    "2026-12-01T09:30:00Z or 2026-12-01T10:30:00%2B01:00 (a '+' in a query string is "
    "written %2B)."
)


def parse_timestamp(value) -> datetime:
    """An RFC 3339 date-time with an offset, within the business range, as aware UTC
    (fractions beyond microseconds are cut). Raises ValueError with TIMESTAMP_MESSAGE."""
    match = _RFC3339.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(TIMESTAMP_MESSAGE)
    day, time, fraction, offset = match.groups()
    fraction = (fraction or "")[:7]
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        moment = datetime.fromisoformat(f"{day}T{time}{fraction}{offset}")
    except ValueError:
        raise ValueError(TIMESTAMP_MESSAGE) from None
    if not MIN_DATE <= moment.date() <= MAX_DATE:
        raise ValueError(TIMESTAMP_MESSAGE)
    return moment.astimezone(UTC)


class Timestamp(fields.Field):
    """A date and time as RFC 3339 with its offset (`parse_timestamp`), documented as
    `format: date-time`; loads as an aware UTC datetime."""

    default_error_messages = {"invalid": TIMESTAMP_MESSAGE}

    def __init__(self, **kwargs):
        metadata = dict(kwargs.pop("metadata", None) or {})
        metadata.setdefault("type", "string")
        metadata.setdefault("format", "date-time")
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_timestamp(value)
        except ValueError:
            raise self.make_error("invalid", input=value) from None


def updated_since_field() -> Timestamp:
    """`?updated_since=`: the list's records changed at or after that moment (created,
    edited, moved to another state, or a part of them changed), for integrations that poll
    for changes; pair it with `sort=updated` (oldest change first)."""
    return Timestamp(
        metadata={
            "description": "Only records changed at or after this moment (RFC 3339 with its "
            "offset, such as 2026-12-01T09:30:00Z): created, edited, moved to another state, "
            "or a part of them changed. Poll with the time of your previous poll (minus a "
            "little for clock skew) and `sort=updated`."
        }
    )


API_PREFIX = "/api/v1"
MAX_PER_PAGE = 200
# ids callers send: positive and within what the id columns hold (fms.tenancy.MAX_ID, the
# one bound), so a larger id is refused here instead of failing in the database as a 500
ID_RANGE = validate.Range(min=1, max=MAX_ID)


class PageArgs(Schema):
    page = Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = Integer(
        load_default=50,
        validate=validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"Items per page, at most {MAX_PER_PAGE}."},
    )


def page_schema(item_schema_cls, name: str):
    """A `{items, page, per_page, total}` envelope around a list of items."""
    return type(
        name,
        (Schema,),
        {
            "items": fields.List(fields.Nested(item_schema_cls)),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "total": fields.Integer(),
        },
    )


def page_body(items, total: int, args: dict) -> dict:
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


class MoneyField(fields.Field):
    """Money as `{"amount": "12.34", "currency": "EUR"}`: amount a string, never a float."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.as_json()

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
            raise ValidationError('Expected {"amount": "12.34", "currency": "EUR"}.')
        if not isinstance(value["amount"], str):
            raise ValidationError('amount must be a string such as "12.34".')
        try:
            return money.Money(money.to_decimal(value["amount"]), value["currency"])
        except (ValueError, TypeError) as exc:
            raise ValidationError(str(exc)) from None


def max_per_page() -> int:
    return current_app.config.get("FMS_API_MAX_PAGE_SIZE", MAX_PER_PAGE)


# --- type-ahead lookups (fms.lookups): small pages for pickers ---------------------------


class LookupQuery(Schema):
    q = fields.String(
        load_default="",
        validate=validate.Length(max=100),
        metadata={"description": "Text the name (or code, or email) contains; any case."},
    )
    page = Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = Integer(
        load_default=20,
        validate=validate.Range(min=1, max=20),
        metadata={"description": "Matches per page, at most 20."},
    )


class LookupItem(Schema):
    id = fields.Integer(required=True)
    label = fields.String(required=True)
    detail = fields.String()
    supplier_id = fields.Integer(allow_none=True, metadata={"description": "Freelancers only."})
    supplier = fields.String(metadata={"description": "Freelancers only."})


class LookupPageOut(Schema):
    items = fields.List(fields.Nested(LookupItem))
    page = fields.Integer()
    per_page = fields.Integer()
    has_more = fields.Boolean()


def lookup_body(result) -> dict:
    """A `fms.lookups.LookupPage` as the API answers it."""
    items = [
        {"id": m.id, "label": m.label, "detail": m.detail, **(m.extra or {})} for m in result.items
    ]
    return {
        "items": items,
        "page": result.page,
        "per_page": result.per_page,
        "has_more": result.has_more,
    }

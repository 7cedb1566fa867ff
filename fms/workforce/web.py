"""Helpers shared by the workforce pages."""

from __future__ import annotations

from decimal import Decimal

from flask import g

from fms.extensions import db
from fms.identity.models import Organization
from fms.timekeeping import minutes_from_hours, today_in


def org_today():
    """Today in the organization's timezone (working days are organization dates)."""
    org = db.session.get(Organization, g.actor.org_id)
    return today_in(org.timezone)


def fill_choices(form, options: dict, *, blank: dict | None = None) -> None:
    """Give a form's select fields their options (with an optional blank first entry)."""
    for name, values in options.items():
        field = getattr(form, name, None)
        if field is None:
            continue
        label = (blank or {}).get(name)
        field.choices = ([(0, label)] if label else []) + list(values)


def terms_fields(form) -> dict:
    """The service arguments from a requisition or engagement form."""
    hours = form.weekly_hours.data
    try:
        minutes = minutes_from_hours(hours) if hours is not None else None
    except (TypeError, ValueError):
        minutes = None
    return {
        "title": form.title.data,
        "kind": form.kind.data,
        "department_id": form.department_id.data,
        "cost_centre_id": form.cost_centre_id.data,
        "location_id": form.location_id.data,
        "start_date": form.start_date.data,
        "end_date": form.end_date.data,
        "weekly_minutes": minutes,
        "currency": (form.currency.data or "").upper(),
    }


def decimal_text(value) -> str | None:
    return None if value is None else str(Decimal(value))

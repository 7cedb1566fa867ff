"""Timesheet pages: the freelancer's week grid, milestones and expenses, the reviewer's
queue, adjustments and the organization's timesheet settings.

One blueprint; the routes live in the room modules imported at the end (sheets, review,
items, settings). Views parse, call a service, commit and redirect; reads that several
pages share are the small helpers below.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, flash, redirect, request

from fms.errors import InvalidInput
from fms.extensions import db

bp = Blueprint("timesheets", __name__, url_prefix="/timesheets")


def decide_then(decide, *, target: str, message: str):
    """Run a reviewer's decision with the posted comment (required to refuse); bad input is
    a message and changes nothing; either way back to `target`."""
    try:
        decide((request.form.get("comment") or "")[:2000])
    except InvalidInput as exc:
        db.session.rollback()
        flash(f"Nothing changed: {exc.detail}", "danger")
        return redirect(target)
    db.session.commit()
    flash(message, "success")
    return redirect(target)


@bp.app_template_filter("hm")
def hours_minutes(minutes) -> str:
    """450 -> '7:30' (the grid's and the queue's time, without a unit)."""
    from fms.timekeeping import format_minutes

    return "0:00" if not minutes else format_minutes(int(minutes))


@bp.app_template_filter("week_span")
def week_span(start, end) -> str:
    """A week as one short interval in the viewer's locale: 'Nov 23 – 29, 2026'."""
    from flask import g

    return _week_span(start, end, g.get("display_locale"))


@lru_cache(maxsize=1024)
def _week_span(start, end, locale) -> str:
    # a queue of 500 sheets spans a few weeks: format each once (Babel's interval is slow)
    from babel.dates import format_interval

    from fms.formatting import _locale

    return format_interval(start, end, "yMMMd", locale=_locale(locale))


@bp.app_template_filter("half_days")
def half_days_text(half_days) -> str:
    """3 -> '1.5 days'."""
    days = (half_days or 0) / 2
    shown = f"{days:g}"
    return f"{shown} day" if days == 1 else f"{shown} days"


from fms.timesheets.views import items, review, settings, sheets  # noqa: E402, F401

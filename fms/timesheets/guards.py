"""What Timesheets registers with Workforce's hooks at app start."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fms.timesheets.models import Adjustment, Timesheet, TimesheetEntry
from fms.workforce.models import Engagement

# sheets and adjustments whose time has been put before a reviewer or finance
RECORDED = ("submitted", "approved", "invoiced")


def last_recorded_day(session: Session, engagement_id: int) -> date | None:
    """The last day of the engagement with time submitted, approved or invoiced (sheets
    and minute adjustments); None when there is none."""
    in_sheets = (
        select(func.max(TimesheetEntry.work_date))
        .join(Timesheet, Timesheet.id == TimesheetEntry.timesheet_id)
        .where(
            TimesheetEntry.engagement_id == engagement_id,
            Timesheet.state.in_(RECORDED),
            or_(TimesheetEntry.minutes > 0, TimesheetEntry.half_days > 0),
        )
        .scalar_subquery()
    )
    in_adjustments = (
        select(func.max(Adjustment.work_date))
        .where(
            Adjustment.engagement_id == engagement_id,
            Adjustment.state.in_(RECORDED),
            Adjustment.minutes.is_not(None),
        )
        .scalar_subquery()
    )
    days = [d for d in session.execute(select(in_sheets, in_adjustments)).one() if d]
    return max(days) if days else None


def rate_change_over_recorded_time(
    session: Session, engagement: Engagement, kind: str, effective_from: date
) -> str | None:
    """A rate change may not reach back over time already submitted or approved: that time
    was priced and reviewed at its rate, and approved records never change. A correction of
    earlier time is an adjustment."""
    if kind != "rate_change":
        return None
    last = last_recorded_day(session, engagement.id)
    if last is None or effective_from > last:
        return None
    earliest = (last + timedelta(days=1)).isoformat()
    return (
        f"Time up to {last.isoformat()} is already submitted or approved at the current "
        f"rate; a rate change takes effect from {earliest} at the earliest (correct "
        "earlier time with an adjustment)."
    )


def register() -> None:
    from fms.workforce.engagements import register_amendment_guard

    register_amendment_guard(rate_change_over_recorded_time)

"""Timesheet rules with no I/O: states, week arithmetic, time rounding, overtime split,
who reviews, the budget levels."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

# draft -> submitted -> approved / rejected (-> draft when the freelancer edits again);
# approved -> invoiced when invoicing has billed every day. Nothing leaves approved except
# to invoiced: a correction is an adjustment.
SHEET_TRANSITIONS: dict[str, set[str]] = {
    "draft": {"submitted"},
    "submitted": {"approved", "rejected"},
    "rejected": {"draft"},
    "approved": {"invoiced"},
    "invoiced": set(),
}
# adjustments go through the same approval
ADJUSTMENT_TRANSITIONS = SHEET_TRANSITIONS
# delivered by the freelancer; accepted or sent back by the reviewer; sent back -> draft
MILESTONE_TRANSITIONS: dict[str, set[str]] = {
    "draft": {"delivered"},
    "delivered": {"accepted", "sent_back"},
    "sent_back": {"draft"},
    "accepted": {"invoiced"},
    "invoiced": set(),
}
# states whose time counts against the budget and the 24-hour day
COUNTED_STATES = ("submitted", "approved", "invoiced")
# milestone states whose amount counts against the budget cap
MILESTONE_COUNTED_STATES = ("delivered", "accepted", "invoiced")
# engagement kinds that record time on sheets (fixed-fee engagements bill milestones)
TIME_KINDS = ("hourly", "daily", "trial")

DAY_MINUTES = 24 * 60
# The engagement's standard day: minutes beyond it are overtime (priced at the overtime
# rate when the terms set one). Engagement terms have no column for it yet.
STANDARD_DAY_MINUTES = 8 * 60
# a half day in minutes, for the 24-hour rule on daily-rate engagements
HALF_DAY_MINUTES = STANDARD_DAY_MINUTES // 2
DEFAULT_WEEK_START = 0  # Monday
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
BUDGET_WARNING = Decimal("0.8")

# mode -> (step in minutes, "up" | "nearest"); applied per day to billable minutes
ROUNDING_MODES: dict[str, tuple[int, str] | None] = {
    "none": None,
    "up_6": (6, "up"),
    "nearest_6": (6, "nearest"),
    "up_15": (15, "up"),
    "nearest_15": (15, "nearest"),
}


# --- weeks ---------------------------------------------------------------------------------


def _start_on_or_before(day: date, weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - weekday) % 7)


def week_bounds(day: date, schedule: list[tuple[date, int]]) -> tuple[date, date]:
    """The week (first day, last day) that contains `day`.

    `schedule` is the organization's week starts as (effective_from, weekday), oldest first;
    Monday before the first. A change applies from its `effective_from` (a day with the new
    weekday); the last week under the old weekday ends the day before, so it may be short.
    """
    weekday, since, following = DEFAULT_WEEK_START, None, None
    for effective_from, new_weekday in schedule:
        if effective_from <= day:
            weekday, since = new_weekday, effective_from
        elif following is None:
            following = effective_from
    start = _start_on_or_before(day, weekday)
    if since is not None and start < since:
        start = since  # cannot happen when effective_from has the weekday; kept safe
    end = start + timedelta(days=6)
    if following is not None and end >= following:
        end = following - timedelta(days=1)
    return start, end


def change_takes_effect(today: date, schedule: list[tuple[date, int]], weekday: int) -> date:
    """The first day of the first week under a new week start chosen today: the first day
    with that weekday after the current week ends (weeks that begin after the change)."""
    _, current_end = week_bounds(today, schedule)
    day = current_end + timedelta(days=1)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def days_of(week_start: date, week_end: date) -> list[date]:
    return [week_start + timedelta(days=i) for i in range((week_end - week_start).days + 1)]


def review_day(week_start: date, week_end: date, first: date, last: date) -> date:
    """The week's last working day within the engagement's dates (Monday-Friday; the last
    day within the dates when none is a weekday): its manager on that day reviews."""
    days = [d for d in days_of(max(week_start, first), min(week_end, last))]
    if not days:
        return week_end
    weekdays = [d for d in days if d.weekday() < 5]
    return (weekdays or days)[-1]


# --- time ----------------------------------------------------------------------------------


def round_minutes(minutes: int, mode: str) -> int:
    """A day's billable minutes under the engagement's rounding (never the stored ones)."""
    rule = ROUNDING_MODES[mode]
    if rule is None or minutes == 0:
        return minutes
    step, how = rule
    if how == "up":
        return -(-minutes // step) * step
    return ((minutes + step // 2) // step) * step  # nearest, halves up (3 of 6 -> 6)


def split_overtime(
    minutes: int, has_overtime_rate: bool, standard: int = STANDARD_DAY_MINUTES
) -> tuple[int, int]:
    """(time, overtime) minutes of one day: beyond the standard day is overtime when an
    overtime rate is set; otherwise all of it is time."""
    if not has_overtime_rate or minutes <= standard:
        return minutes, 0
    return standard, minutes - standard


def counted_minutes(minutes: int, half_days: int | None) -> int:
    """A day's time for the 24-hour rule: minutes, or half days as half standard days."""
    return minutes if half_days is None else half_days * HALF_DAY_MINUTES


def budget_level(used, cap) -> str:
    """'over' past the cap, 'warning' from 80 % of it, else 'ok' (exact comparisons)."""
    if used > cap:
        return "over"
    if used >= cap * BUDGET_WARNING:
        return "warning"
    return "ok"


EXPENSE_CATEGORIES = ("travel", "accommodation", "meals", "equipment", "other")
# expenses are submitted and decided like sheets
EXPENSE_TRANSITIONS = SHEET_TRANSITIONS

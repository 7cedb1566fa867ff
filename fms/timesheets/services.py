"""Timesheet writes and their rules. Services flush, never commit; each docstring says the
rule it enforces; every refusal names the rule and why, and changes nothing.

Lock order (after the audit chain head, which fms.audit takes first): the freelancer's
profile, then the engagement, then the sheet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.orm import Session

from fms import money
from fms.audit import services as audit
from fms.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from fms.identity.actor import Actor
from fms.identity.permissions import require
from fms.input import DATE_MESSAGE, WHOLE_MESSAGE, nfc, parse_date, parse_int
from fms.records import add_unique
from fms.statemachine import lock, transition
from fms.tenancy import MAX_ID, get_in_org
from fms.timekeeping import utcnow
from fms.timesheets import hooks, notices, pricing, rules
from fms.timesheets.models import (
    Adjustment,
    PeriodLock,
    TaskCode,
    TimeRounding,
    Timesheet,
    TimesheetEntry,
    WeekStart,
)
from fms.workforce import queries as workforce_queries
from fms.workforce.engagements import org_today, terms_on
from fms.workforce.models import Delegation, Engagement, EngagementTerms, Freelancer

MAX_NOTE = 500
MAX_COMMENT = 2000
MAX_BULK = 1000

# --- submission guards (a hook: higher areas register, timesheets never imports them) --------

SubmissionGuard = Callable[..., str | None]
_submission_guards: list[SubmissionGuard] = []


def register_submission_guard(guard: SubmissionGuard) -> SubmissionGuard:
    """Register `guard(session, *, engagement, sheet) -> reason | None`; a reason refuses
    the submission (Compliance blocks non-compliant engagements through it)."""
    if guard not in _submission_guards:
        _submission_guards.append(guard)
    return guard


def unregister_submission_guard(guard: SubmissionGuard) -> None:
    if guard in _submission_guards:
        _submission_guards.remove(guard)


# --- helpers -------------------------------------------------------------------------------


def text_in(value, *, limit: int, name: str, required: bool = False) -> str:
    text = nfc(str(value or "")).strip()
    if required and not text:
        raise InvalidInput("This is required.", errors={name: ["Required."]})
    if len(text) > limit:
        raise InvalidInput(f"At most {limit} characters.", errors={name: [f"At most {limit}."]})
    return text


def date_in(value, name: str) -> date:
    try:
        return parse_date(value)
    except ValueError:
        raise InvalidInput(DATE_MESSAGE, errors={name: [DATE_MESSAGE]}) from None


def amount_in(value, currency: str, *, name: str = "amount", positive: bool = True):
    """An exact amount in the currency's minor unit, non-zero, below a trillion (and
    positive unless corrections may be negative); InvalidInput otherwise."""
    try:
        number = money.to_decimal(value)
    except (TypeError, ValueError):
        number = None
    if (
        number is None
        or number == 0
        or (positive and number < 0)
        or abs(number) >= 10**12
        or money.round_half_up(number, currency) != number
    ):
        kind = "positive" if positive else "non-zero"
        message = f"A {kind} amount in {currency}, to its minor unit."
        raise InvalidInput(message, errors={name: [message]})
    return number


def _profile_of(session: Session, actor: Actor) -> Freelancer | None:
    if actor.user_id is None or not actor.can("own_engagements.read"):
        return None
    return session.scalar(select(Freelancer).where(Freelancer.user_id == actor.user_id))


def own_engagement(session: Session, actor: Actor, engagement_id) -> Engagement:
    """The actor's own engagement (as its freelancer); any other id is simply not found."""
    engagement = get_in_org(session, Engagement, engagement_id, what="engagement")
    profile = _profile_of(session, actor)
    if profile is None or engagement.freelancer_id != profile.id:
        raise NotFound("No such engagement.")
    return engagement


def is_freelancer_of(session: Session, actor: Actor, sheet: Timesheet) -> bool:
    """Whether the actor is the sheet's freelancer (who fills and submits it)."""
    profile = _profile_of(session, actor)
    return profile is not None and profile.id == sheet.freelancer_id


def visible_engagement(session: Session, actor: Actor, engagement_id) -> Engagement:
    """An engagement whose time and costs the actor may see: staff who read engagements
    see every one, a freelancer only their own; anything else is not found."""
    if actor.can("engagements.read"):
        return get_in_org(session, Engagement, engagement_id, what="engagement")
    return own_engagement(session, actor, engagement_id)


def freelancers_own(session: Session, actor: Actor, engagement_id, message: str) -> Engagement:
    """An engagement for its freelancer's own act (fill, deliver, record an expense): those
    who may see it but are not its freelancer are told it is not theirs (NotAllowed); anyone
    else finds nothing (NotFound)."""
    engagement = visible_engagement(session, actor, engagement_id)
    profile = _profile_of(session, actor)
    if profile is None or profile.id != engagement.freelancer_id:
        raise NotAllowed(message)
    return engagement


def get_timesheet(session: Session, *, actor: Actor, timesheet_id) -> Timesheet:
    """Staff who read engagements see every sheet; a freelancer only their own."""
    sheet = get_in_org(session, Timesheet, timesheet_id, what="timesheet")
    if actor.can("engagements.read"):
        return sheet
    profile = _profile_of(session, actor)
    if profile is not None and sheet.freelancer_id == profile.id:
        return sheet
    raise NotFound("No such timesheet.")


def _require_owner(session: Session, actor: Actor, sheet: Timesheet) -> None:
    profile = _profile_of(session, actor)
    if profile is None or profile.id != sheet.freelancer_id:
        raise NotAllowed("Only the freelancer fills in and submits their timesheet.")


def engagement_of(session: Session, engagement_id: int) -> Engagement:
    return session.scalar(select(Engagement).where(Engagement.id == engagement_id))


def reviewer_day(engagement: Engagement, week_start: date, week_end: date) -> date:
    return rules.review_day(week_start, week_end, engagement.start_date, engagement.end_date)


def acting_day(session: Session, actor: Actor, today: date | None = None) -> date:
    """The day the actor acts on: the given one, or today in the organization's timezone."""
    return today if today is not None else org_today(session, actor)


def require_reviewer(
    session: Session,
    actor: Actor,
    engagement: Engagement,
    week_start: date,
    week_end: date,
    *,
    today: date | None = None,
) -> None:
    """The engagement's manager on the week's last working day decides, or a delegate that
    manager named for the day the decision is taken (whatever week the sheet covers), or
    procurement; never the freelancer whose work it is."""
    profile = _profile_of(session, actor)
    if profile is not None and profile.id == engagement.freelancer_id:
        raise NotAllowed("You cannot decide your own time or costs.")
    if actor.can("engagements.manage"):
        return
    day = reviewer_day(engagement, week_start, week_end)
    terms = terms_on(session, engagement.id, day)
    manager = terms.hiring_manager_user_id if terms else None
    on = acting_day(session, actor, today)
    if (
        actor.can("engagements.end")
        and manager is not None
        and (
            manager == actor.user_id
            or workforce_queries.stands_in_for(session, actor.user_id, manager, on)
        )
    ):
        return
    raise NotAllowed(
        f"Only the engagement's hiring manager on {day.isoformat()} (or a delegate they named "
        f"for {on.isoformat()}), or procurement, decides this."
    )


def week_schedule(session: Session) -> list[tuple[date, int]]:
    """The organization's week starts, oldest first (Monday before the first)."""
    return [
        (row.effective_from, row.weekday)
        for row in session.scalars(select(WeekStart).order_by(WeekStart.effective_from))
    ]


# --- settings: week start, task codes, rounding ---------------------------------------------


def set_week_start(session: Session, *, actor: Actor, weekday, today: date) -> WeekStart:
    """Change the weekday weeks start on; it applies to weeks that begin after the current
    one ends (rules.change_takes_effect), one pending change at a time."""
    require(actor, "organization.manage")
    try:
        weekday = parse_int(weekday)
    except ValueError:
        weekday = -1
    if not 0 <= weekday <= 6:
        raise InvalidInput(
            "Choose a weekday from 0 (Monday) to 6 (Sunday).", errors={"week_start": ["0-6."]}
        )
    schedule = week_schedule(session)
    pending = [d for d, _ in schedule if d > today]
    if pending:
        raise RuleViolation(
            f"A change of week start already takes effect on {pending[0].isoformat()}."
        )
    current = schedule[-1][1] if schedule else rules.DEFAULT_WEEK_START
    if weekday == current:
        raise RuleViolation(f"Weeks already start on {rules.WEEKDAYS[weekday]}.")
    row = WeekStart(
        org_id=actor.org_id,
        effective_from=rules.change_takes_effect(today, schedule, weekday),
        weekday=weekday,
        created_by_user_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "timesheet_week_start.changed",
        row,
        before={"weekday": current},
        after={"weekday": weekday, "effective_from": row.effective_from},
    )
    return row


def add_task_code(session: Session, *, actor: Actor, code, name) -> TaskCode:
    """Procurement keeps the organization's task/project codes; a code is unique (409)."""
    require(actor, "engagements.manage")
    code = text_in(code, limit=30, name="code", required=True)
    name = text_in(name, limit=120, name="name", required=True)
    row = add_unique(
        session,
        TaskCode(org_id=actor.org_id, code=code, name=name, is_active=True),
        existing=lambda: session.scalar(select(TaskCode.id).where(TaskCode.code == code)),
        detail=f"The task code {code!r} exists already.",
        errors={"code": ["Exists already."]},
    )
    audit.record(session, actor, "timesheet_task_code.created", row, after={"code": code})
    return row


def set_task_code_active(session: Session, *, actor: Actor, task_code_id, active: bool):
    """Retired codes stay on the entries that used them; new entries cannot choose them."""
    require(actor, "engagements.manage")
    row = get_in_org(session, TaskCode, task_code_id, what="task code")
    row.is_active = bool(active)
    session.flush()
    audit.record(
        session, actor, "timesheet_task_code.changed", row, after={"is_active": row.is_active}
    )
    return row


def set_time_rounding(session: Session, *, actor: Actor, engagement_id, mode) -> TimeRounding:
    """Procurement sets how an engagement's billable minutes are rounded per day; stored
    minutes never change. Once time is submitted or approved the rounding is fixed: that
    time was priced and reviewed under it, and a change would re-price approved weeks
    behind finance's back (the engagement row is locked while checking)."""
    from fms.timesheets.guards import last_recorded_day

    require(actor, "engagements.manage")
    engagement = get_in_org(session, Engagement, engagement_id, what="engagement")
    if mode not in rules.ROUNDING_MODES:
        raise InvalidInput(
            "Choose none, up_6, nearest_6, up_15 or nearest_15.",
            errors={"mode": [", ".join(rules.ROUNDING_MODES)]},
        )
    lock(session, engagement)
    row = session.scalar(select(TimeRounding).where(TimeRounding.engagement_id == engagement.id))
    before = row.mode if row else "none"
    if mode != before and (last := last_recorded_day(session, engagement.id)) is not None:
        raise RuleViolation(
            f"Time up to {last.isoformat()} is already submitted or approved under "
            f"“{before}” rounding; the rounding of this engagement can no longer change."
        )
    if row is None:
        row = TimeRounding(org_id=actor.org_id, engagement_id=engagement.id, mode=mode)
        session.add(row)
    row.mode = mode
    session.flush()
    audit.record(
        session,
        actor,
        "engagement.time_rounding_set",
        engagement,
        before={"time_rounding": before},
        after={"time_rounding": mode},
    )
    return row


# --- sheets and entries --------------------------------------------------------------------


def open_timesheet(session: Session, *, actor: Actor, engagement_id, week_start) -> Timesheet:
    """The freelancer opens the sheet of one of their engagements for a week: the date is
    the first day of a week (the organization's week start), the week overlaps the
    engagement's dates, one sheet per engagement and week (409)."""
    engagement = own_engagement(session, actor, engagement_id)
    if engagement.kind not in rules.TIME_KINDS:
        raise RuleViolation("A fixed-fee engagement bills milestones, not time.")
    start = date_in(week_start, "week_start")
    first, last = rules.week_bounds(start, week_schedule(session))
    if first != start:
        raise InvalidInput(
            f"{start.isoformat()} is not the first day of a week; that week starts on "
            f"{first.isoformat()}.",
            errors={"week_start": ["Not the first day of a week."]},
        )
    if last < engagement.start_date or first > engagement.end_date:
        raise RuleViolation(
            "Engagement dates: this week is outside the engagement "
            f"({engagement.start_date.isoformat()} to {engagement.end_date.isoformat()})."
        )
    sheet = add_unique(
        session,
        Timesheet(
            org_id=actor.org_id,
            engagement_id=engagement.id,
            freelancer_id=engagement.freelancer_id,
            week_start=first,
            week_end=last,
            state="draft",
        ),
        existing=lambda: session.scalar(
            select(Timesheet.id).where(
                Timesheet.engagement_id == engagement.id, Timesheet.week_start == first
            )
        ),
        detail="There is already a timesheet for this engagement and week.",
    )
    audit.record(
        session,
        actor,
        "timesheet.created",
        sheet,
        after={"engagement_id": engagement.id, "week_start": first, "week_end": last},
    )
    return sheet


def _half_days(value, errors: dict, key: str) -> int | None:
    try:
        number = money.to_decimal(value)
    except (TypeError, ValueError):
        number = None
    if number not in (Decimal(0), Decimal("0.5"), Decimal(1)):
        errors[key] = ["Days are 0, 0.5 or 1."]
        return None
    return int(number * 2)


def _parse_entries(session, sheet, engagement, entries) -> list[dict]:
    """Every entry checked before anything is written; errors keyed entries.<i>.<field>."""
    if not isinstance(entries, list | tuple) or len(entries) > 7:
        raise InvalidInput("Give at most one entry per day of the week.")
    errors: dict[str, list[str]] = {}
    codes = {
        row.code: row.id for row in session.scalars(select(TaskCode).where(TaskCode.is_active))
    }
    daily = engagement.kind == "daily"
    parsed, seen = [], set()
    for index, raw in enumerate(entries):
        key = f"entries.{index}"
        if not isinstance(raw, dict):
            errors[key] = ["An entry is an object with a date and time."]
            continue
        try:
            day = parse_date(raw.get("work_date"))
        except ValueError:
            errors[f"{key}.work_date"] = [DATE_MESSAGE]
            continue
        if not sheet.week_start <= day <= sheet.week_end:
            errors[f"{key}.work_date"] = [
                f"Outside this week ({sheet.week_start.isoformat()} to "
                f"{sheet.week_end.isoformat()})."
            ]
        elif not engagement.start_date <= day <= engagement.end_date:
            errors[f"{key}.work_date"] = ["Outside the engagement's dates."]
        elif day in seen:
            errors[f"{key}.work_date"] = ["One entry per day."]
        seen.add(day)
        minutes, half_days = 0, None
        if daily:
            half_days = _half_days(raw.get("days"), errors, f"{key}.days")
        else:
            try:
                minutes = parse_int(raw.get("minutes"))
            except ValueError:
                errors[f"{key}.minutes"] = [WHOLE_MESSAGE]
            else:
                if not 0 <= minutes <= rules.DAY_MINUTES:
                    errors[f"{key}.minutes"] = ["From 0 to 1440 minutes (24 hours) a day."]
        code_id = None
        code = raw.get("task_code")
        if code not in (None, ""):
            code_id = codes.get(nfc(str(code)).strip())
            if code_id is None:
                errors[f"{key}.task_code"] = ["Not one of the organization's active codes."]
        note = nfc(str(raw.get("note") or "")).strip()
        if len(note) > MAX_NOTE:
            errors[f"{key}.note"] = [f"At most {MAX_NOTE} characters."]
        parsed.append(
            {
                "work_date": day,
                "minutes": minutes,
                "half_days": half_days,
                "task_code_id": code_id,
                "note": note,
            }
        )
    if errors:
        raise InvalidInput("Check the highlighted entries.", errors=errors)
    return parsed


def _require_editable(sheet: Timesheet) -> None:
    if sheet.state not in ("draft", "rejected"):
        raise RuleViolation(
            f"This timesheet is {sheet.state}: it can no longer be edited"
            + (" (a correction is an adjustment)." if sheet.state != "submitted" else ".")
        )


def save_entries(session: Session, *, actor: Actor, timesheet_id, entries) -> Timesheet:
    """The freelancer replaces the week's entries while the sheet is a draft (a rejected
    sheet becomes a draft again). The state is read under the sheet's row lock, so an
    edit never lands on a sheet submitted or approved meanwhile."""
    sheet = get_timesheet(session, actor=actor, timesheet_id=timesheet_id)
    _require_owner(session, actor, sheet)
    engagement = engagement_of(session, sheet.engagement_id)
    parsed = _parse_entries(session, sheet, engagement, entries)
    lock(session, sheet)
    _require_editable(sheet)
    if sheet.state == "rejected":
        transition(session, sheet, to="draft", table=rules.SHEET_TRANSITIONS, actor=actor)
    # "evaluate": entries of this sheet already loaded (copy_previous_week reads them) leave
    # the session, so a new row that reuses a deleted id (SQLite does) finds no stale twin
    session.execute(
        delete(TimesheetEntry)
        .where(TimesheetEntry.timesheet_id == sheet.id)
        .execution_options(synchronize_session="evaluate")
    )
    kept = [p for p in parsed if p["minutes"] or p["half_days"] or p["note"] or p["task_code_id"]]
    for values in kept:
        session.add(
            TimesheetEntry(
                org_id=sheet.org_id, timesheet_id=sheet.id, engagement_id=engagement.id, **values
            )
        )
    session.flush()
    audit.record(
        session,
        actor,
        "timesheet.entries_saved",
        sheet,
        after={
            "days": len(kept),
            "minutes": sum(p["minutes"] for p in kept),
            "half_days": sum(p["half_days"] or 0 for p in kept),
        },
    )
    return sheet


def entries_of(session: Session, timesheet_id: int) -> list[TimesheetEntry]:
    return list(
        session.scalars(
            select(TimesheetEntry)
            .where(TimesheetEntry.timesheet_id == timesheet_id)
            .order_by(TimesheetEntry.work_date)
        )
    )


class NothingToCopy(RuleViolation):
    """Copying the previous week would change nothing; the page says so as information."""


@dataclass
class CopiedWeek:
    sheet: Timesheet
    source_week_start: date
    days: int


def copy_previous_week(session: Session, *, actor: Actor, timesheet_id) -> CopiedWeek:
    """The freelancer fills this week's empty days from the engagement's latest earlier
    sheet (whatever its state; it is never changed). A day without time (no minutes, no
    days) takes the same weekday's time, task code (when still active) and note; days that
    have time keep it, days outside the engagement's dates stay empty. Like any edit: only
    the sheet's own freelancer (others who may see it: NotAllowed), only a draft or a
    rejected sheet (which becomes a draft again; any other state is a RuleViolation),
    checked again under the sheet's lock when the entries are written. A week in a closed
    billing period may still be filled, as late sheets may (billed in the next close). No
    earlier sheet, or none of its time on a day still empty here: NothingToCopy, and
    nothing changes."""
    sheet = get_timesheet(session, actor=actor, timesheet_id=timesheet_id)
    _require_owner(session, actor, sheet)
    _require_editable(sheet)
    engagement = engagement_of(session, sheet.engagement_id)
    previous = session.scalar(
        select(Timesheet)
        .where(
            Timesheet.engagement_id == sheet.engagement_id,
            Timesheet.week_start < sheet.week_start,
        )
        .order_by(Timesheet.week_start.desc())
        .limit(1)
    )
    if previous is None:
        raise NothingToCopy("There is no earlier week of this engagement to copy.")
    codes = dict(
        session.execute(select(TaskCode.id, TaskCode.code).where(TaskCode.is_active)).all()
    )
    current = {e.work_date: e for e in entries_of(session, sheet.id)}
    # the same weekday is the same distance from the week's first day
    earlier = {
        (e.work_date - previous.week_start).days: e for e in entries_of(session, previous.id)
    }
    daily = engagement.kind == "daily"
    entries, copied = [], 0
    for day in rules.days_of(sheet.week_start, sheet.week_end):
        if not engagement.start_date <= day <= engagement.end_date:
            continue
        entry = current.get(day)
        if entry is None or not (entry.minutes or entry.half_days):
            source = earlier.get((day - sheet.week_start).days)
            if source is not None and (source.minutes or source.half_days):
                entry, copied = source, copied + 1
        if entry is None:
            continue
        values = {
            "work_date": day.isoformat(),
            "task_code": codes.get(entry.task_code_id, ""),
            "note": entry.note,
        }
        if daily:
            values["days"] = {1: "0.5", 2: "1"}.get(entry.half_days or 0, "0")
        else:
            values["minutes"] = entry.minutes
        entries.append(values)
    if not copied:
        raise NothingToCopy("Nothing to copy: last week has no time on the days still empty here.")
    save_entries(session, actor=actor, timesheet_id=sheet.id, entries=entries)
    return CopiedWeek(sheet, previous.week_start, copied)


# --- submission ----------------------------------------------------------------------------


@dataclass
class Submission:
    sheet: Timesheet
    warnings: list[str] = field(default_factory=list)


def _person_day_totals(
    session: Session,
    freelancer_id: int,
    first: date,
    last: date,
    *,
    besides_sheet: int | None = None,
    besides_adjustment: int | None = None,
) -> dict[date, int]:
    """A person's counted time per day across all their engagements: entries of submitted,
    approved or invoiced sheets, plus minute adjustments in those states (two statements)."""
    counted = (
        func.sum(TimesheetEntry.minutes)
        + func.coalesce(func.sum(TimesheetEntry.half_days), 0) * rules.HALF_DAY_MINUTES
    )
    totals: dict[date, int] = defaultdict(int)
    for day, minutes in session.execute(
        select(TimesheetEntry.work_date, counted)
        .join(Timesheet, Timesheet.id == TimesheetEntry.timesheet_id)
        .where(
            Timesheet.freelancer_id == freelancer_id,
            Timesheet.id != (besides_sheet or 0),
            Timesheet.state.in_(rules.COUNTED_STATES),
            TimesheetEntry.work_date.between(first, last),
        )
        .group_by(TimesheetEntry.work_date)
    ):
        totals[day] += minutes or 0
    for day, minutes in session.execute(
        select(Adjustment.work_date, func.sum(Adjustment.minutes))
        .join(Timesheet, Timesheet.id == Adjustment.timesheet_id)
        .where(
            Timesheet.freelancer_id == freelancer_id,
            Adjustment.id != (besides_adjustment or 0),
            Adjustment.minutes.is_not(None),
            Adjustment.state.in_(rules.COUNTED_STATES),
            Adjustment.work_date.between(first, last),
        )
        .group_by(Adjustment.work_date)
    ):
        totals[day] += minutes or 0
    return totals


def _refuse_long_day(day: date, total: int) -> None:
    if total > rules.DAY_MINUTES:
        raise RuleViolation(
            f"24-hour day: with your other engagements, {day.isoformat()} "
            f"would have {total // 60}:{total % 60:02d} hours; a day has 24."
        )


def _check_day_limit(session: Session, sheet: Timesheet, entries) -> None:
    """At most 24 hours a day per person across all their engagements (submitted,
    approved or invoiced sheets and minute adjustments, and this one)."""
    others = _person_day_totals(
        session, sheet.freelancer_id, sheet.week_start, sheet.week_end, besides_sheet=sheet.id
    )
    for entry in entries:
        total = others.get(entry.work_date, 0) + rules.counted_minutes(
            entry.minutes, entry.half_days
        )
        _refuse_long_day(entry.work_date, total)


def engagement_spend(
    session: Session,
    engagement: Engagement,
    *,
    besides: int | None = None,
    besides_milestone: int | None = None,
    besides_expense: int | None = None,
):
    """The engagement's submitted, approved and invoiced time and adjustments, its delivered
    and accepted milestones and its submitted and approved expenses in its currency,
    priced and rounded as invoice lines would be (Decimal in its currency)."""
    return spend_items(
        session,
        [engagement],
        besides=besides,
        besides_milestone=besides_milestone,
        besides_expense=besides_expense,
    )[engagement.id]


def spend_items(
    session: Session,
    engagements,
    *,
    besides: int | None = None,
    besides_milestone: int | None = None,
    besides_expense: int | None = None,
) -> dict[int, list]:
    """`engagement_spend` for many engagements at once, in a fixed number of statements
    whatever their number (the review queue shows each one's budget used)."""
    from fms.timesheets.models import Expense, Milestone

    by_id = {e.id: e for e in engagements}
    ids = sorted(by_id)
    spent: dict[int, list] = {i: [] for i in ids}
    if not ids:
        return spent
    sheets = session.execute(
        select(Timesheet.id, Timesheet.engagement_id).where(
            Timesheet.engagement_id.in_(ids),
            Timesheet.state.in_(rules.COUNTED_STATES),
            Timesheet.id != (besides or 0),
        )
    ).all()
    priced = pricing.sheet_items(session, [sheet_id for sheet_id, _ in sheets])
    for sheet_id, engagement_id in sheets:
        spent[engagement_id] += priced[sheet_id]
    adjustments = session.scalars(
        select(Adjustment).where(
            Adjustment.engagement_id.in_(ids), Adjustment.state.in_(rules.COUNTED_STATES)
        )
    ).all()
    for item, adjustment in zip(
        pricing.adjustment_items(session, list(adjustments)), adjustments, strict=True
    ):
        spent[adjustment.engagement_id].append(item)
    for milestone in session.scalars(
        select(Milestone).where(
            Milestone.engagement_id.in_(ids),
            Milestone.state.in_(rules.MILESTONE_COUNTED_STATES),
            Milestone.id != (besides_milestone or 0),
        )
    ):
        spent[milestone.engagement_id].append(pricing.milestone_item(milestone))
    for expense in session.scalars(
        select(Expense).where(
            Expense.engagement_id.in_(ids),
            Expense.state.in_(rules.COUNTED_STATES),
            Expense.id != (besides_expense or 0),
        )
    ):
        if expense.currency == by_id[expense.engagement_id].currency:
            spent[expense.engagement_id].append(pricing.expense_item(expense))
    return spent


def check_budget_cap(
    session: Session,
    actor: Actor,
    engagement: Engagement,
    *,
    items,
    on: date,
    today: date,
    what: str = "this week",
) -> list[str]:
    """The budget cap in effect (an approved budget increase raises it) over `items` (the
    engagement's counted spend with what is being added): a warning from 80 %, a refusal
    past 100 %; a trial engagement's limit in the base currency. The caller holds the
    engagement's row lock."""
    used = pricing.totals_by_currency(items).get(engagement.currency, Decimal(0))
    terms = terms_on(session, engagement.id, max(today, on))
    cap = terms.budget_cap
    level = rules.budget_level(used, cap)
    shown = f"{used:,.2f} of the {cap:,.2f} {engagement.currency} cap"
    if level == "over":
        raise RuleViolation(
            f"Budget cap: {what} would bring the engagement to {shown}; "
            "an approved budget increase must raise the cap first."
        )
    warnings = [f"Budget: the engagement is at {shown} (80 % or more)."] * (level == "warning")
    if engagement.kind == "trial":
        from fms.workforce.validation import to_base_currency

        settings = workforce_queries.workforce_settings(session)
        base = to_base_currency(
            session, actor=actor, amount=used, currency=engagement.currency, on=today
        )
        if base > settings.trial_max_budget:
            raise RuleViolation(
                f"Trial limit: a trial engagement bills at most {settings.trial_max_budget:,.2f} "
                "in the organization's base currency."
            )
    return warnings


def check_added_item(
    session: Session,
    actor: Actor,
    engagement: Engagement,
    *,
    item,
    today: date,
    what: str,
    **besides,
) -> list[str]:
    """The budget cap over the engagement's counted spend (without the item's own row,
    `besides_milestone=` / `besides_expense=`) plus one priced item; the engagement row is
    locked first."""
    lock(session, engagement)
    items = engagement_spend(session, engagement, **besides)
    return check_budget_cap(
        session, actor, engagement, items=[*items, item], on=item.work_date, today=today, what=what
    )


def _check_budget(session, actor, engagement, sheet, today) -> list[str]:
    """The budget cap over the engagement's counted spend and this sheet."""
    items = engagement_spend(session, engagement, besides=sheet.id)
    items += pricing.sheet_items(session, [sheet.id])[sheet.id]
    return check_budget_cap(session, actor, engagement, items=items, on=sheet.week_end, today=today)


def _check_trial_days(session: Session, engagement: Engagement, entries) -> None:
    """A trial engagement's time falls within its first trial_max_days days."""
    if engagement.kind != "trial":
        return
    limit = workforce_queries.workforce_settings(session).trial_max_days
    for entry in entries:
        if (entry.work_date - engagement.start_date).days + 1 > limit:
            raise RuleViolation(
                f"Trial limit: a trial engagement records time in its first {limit} days "
                f"only; {entry.work_date.isoformat()} is later."
            )


def submit_timesheet(session: Session, *, actor: Actor, timesheet_id, today: date) -> Submission:
    """The freelancer submits a draft week: inside the engagement's dates while it is
    active; submission guards; at most 24 h a day across engagements (profile row
    locked); the trial limits; the budget cap (engagement row locked). A week in a period
    invoicing has closed may still be submitted: it bills in the next close."""
    sheet = get_timesheet(session, actor=actor, timesheet_id=timesheet_id)
    _require_owner(session, actor, sheet)
    engagement = engagement_of(session, sheet.engagement_id)
    # the documented order: profile, engagement, sheet; everything below reads them locked
    lock(session, session.get(Freelancer, sheet.freelancer_id))
    lock(session, engagement)
    lock(session, sheet)
    if sheet.state != "draft":
        raise RuleViolation(f"Only a draft can be submitted; this timesheet is {sheet.state}.")
    if engagement.state != "active":
        raise RuleViolation(
            f"Active engagement: time is submitted while the engagement is active; it is "
            f"{engagement.state.replace('_', ' ')}."
        )
    entries = entries_of(session, sheet.id)
    if not any(e.minutes or e.half_days for e in entries):
        raise RuleViolation("Nothing to submit: the week has no time.")
    for entry in entries:
        if not engagement.start_date <= entry.work_date <= engagement.end_date:
            raise RuleViolation(
                f"Engagement dates: {entry.work_date.isoformat()} is outside the engagement "
                f"({engagement.start_date.isoformat()} to {engagement.end_date.isoformat()})."
            )
    for guard in list(_submission_guards):
        reason = guard(session, engagement=engagement, sheet=sheet)
        if reason:
            raise RuleViolation(reason)
    _check_trial_days(session, engagement, entries)
    _check_day_limit(session, sheet, entries)
    warnings = _check_budget(session, actor, engagement, sheet, today)
    if locked_period(session, sheet.week_start) is not None:
        warnings.append("This week is in a closed billing period: it bills in the next close.")
    previous = sheet.submitted_at  # of a submission sent back, if any
    transition(
        session,
        sheet,
        to="submitted",
        table=rules.SHEET_TRANSITIONS,
        actor=actor,
        values={"submitted_at": utcnow()},
        after={"minutes": sum(e.minutes for e in entries)},
    )
    notices.sheet_submitted(
        session, sheet=sheet, engagement=engagement, today=today, previous=previous
    )
    hooks.record_event.send("timesheet.submitted", session=session, ids=[sheet.id])
    return Submission(sheet, warnings)


# --- review --------------------------------------------------------------------------------


def comment_in(comment, required: bool) -> str | None:
    text = nfc(str(comment or "")).strip()
    if required and not text:
        raise InvalidInput("Say why you send it back.", errors={"comment": ["Required."]})
    if len(text) > MAX_COMMENT:
        raise InvalidInput(
            f"At most {MAX_COMMENT} characters.", errors={"comment": [f"At most {MAX_COMMENT}."]}
        )
    return text or None


def decide(session, obj, *, to, table, actor, comment, label, source="submitted"):
    """A conditional update from `source`: of two decisions at once exactly one wins; the
    other is told it was already decided."""
    if obj.state != source:
        raise RuleViolation(f"This {label} has already been decided (it is {obj.state}).")
    try:
        return transition(
            session,
            obj,
            to=to,
            table=table,
            actor=actor,
            values={
                "decided_at": utcnow(),
                "decided_by_user_id": actor.user_id,
                "decision_comment": comment,
            },
            after={"comment": comment},
        )
    except RuleViolation:
        raise RuleViolation(f"This {label} has already been decided.") from None


def approve_timesheet(
    session: Session, *, actor: Actor, timesheet_id, today: date | None = None
) -> Timesheet:
    """The reviewer (manager on the week's last working day, a delegate they named for
    today, or procurement) approves a submitted sheet; approved sheets never change."""
    sheet = get_timesheet(session, actor=actor, timesheet_id=timesheet_id)
    engagement = engagement_of(session, sheet.engagement_id)
    require_reviewer(session, actor, engagement, sheet.week_start, sheet.week_end, today=today)
    decide(
        session,
        sheet,
        to="approved",
        table=rules.SHEET_TRANSITIONS,
        actor=actor,
        comment=None,
        label="timesheet",
    )
    notices.sheets_decided(session, org_id=sheet.org_id, sheets=[sheet], state="approved")
    hooks.record_event.send("timesheet.approved", session=session, ids=[sheet.id])
    return sheet


def reject_timesheet(
    session: Session, *, actor: Actor, timesheet_id, comment, today: date | None = None
) -> Timesheet:
    """The reviewer sends a submitted sheet back with a comment (required); the freelancer
    edits it (rejected -> draft) and submits again."""
    sheet = get_timesheet(session, actor=actor, timesheet_id=timesheet_id)
    engagement = engagement_of(session, sheet.engagement_id)
    require_reviewer(session, actor, engagement, sheet.week_start, sheet.week_end, today=today)
    comment = comment_in(comment, True)
    decide(
        session,
        sheet,
        to="rejected",
        table=rules.SHEET_TRANSITIONS,
        actor=actor,
        comment=comment,
        label="timesheet",
    )
    notices.sheets_decided(
        session, org_id=sheet.org_id, sheets=[sheet], state="rejected", comment=comment
    )
    hooks.record_event.send("timesheet.rejected", session=session, ids=[sheet.id])
    return sheet


def _move_all(session, actor, *where, source, to, values=None, after=None) -> list[int]:
    """A set-based transition of sheets: one conditional UPDATE ... RETURNING of those still
    in `source`, then one audit entry each through the batch writer."""
    if to not in rules.SHEET_TRANSITIONS[source]:
        raise RuntimeError(f"no transition from {source} to {to}")
    moved = sorted(
        session.scalars(
            update(Timesheet)
            .where(*where, Timesheet.state == source)
            .values(state=to, **(values or {}))
            .returning(Timesheet.id)
            .execution_options(synchronize_session=False)
        ).all()
    )
    audit.record_many(
        session,
        actor,
        [
            audit.Change(
                f"timesheet.{to}",
                "timesheet",
                sheet_id,
                before={"state": source},
                after={"state": to, **(after or {})},
            )
            for sheet_id in moved
        ],
    )
    return moved


# --- bulk approval -------------------------------------------------------------------------


def _ids(values) -> list[int]:
    if not isinstance(values, list | tuple) or not values:
        raise InvalidInput("Choose the timesheets.", errors={"timesheet_ids": ["Required."]})
    if len(values) > MAX_BULK:
        raise InvalidInput(f"At most {MAX_BULK} timesheets at once.")
    ids = []
    for value in values:
        try:
            number = parse_int(value)
        except ValueError:
            number = 0
        if not 0 < number <= MAX_ID:
            raise InvalidInput(
                "Timesheet ids are whole numbers.", errors={"timesheet_ids": [WHOLE_MESSAGE]}
            )
        ids.append(number)
    return sorted(set(ids))


class Reviewers:
    """Who may decide sheets of many engagements: three statements whatever their number
    (engagements, their terms, the actor's delegations). A delegate decides on the days
    their delegation covers (`today`, the acting day), the sheets whose reviewer is the
    manager who named them."""

    def __init__(
        self,
        session: Session,
        actor: Actor,
        engagement_ids,
        full_history=False,
        *,
        today: date | None = None,
    ):
        ids = sorted(set(engagement_ids))
        self.actor = actor
        self.today = today
        self.engagements = {
            e.id: e for e in session.scalars(select(Engagement).where(Engagement.id.in_(ids)))
        }
        self.history: dict[int, list] = {i: [] for i in ids}
        self.delegations: list = []
        self.everyone = actor.can("engagements.manage")
        # nobody decides their own time: the actor's own profile, if they are a freelancer
        self.own_profile_id = None
        if actor.can("own_engagements.read") and ids:
            profile = _profile_of(session, actor)
            self.own_profile_id = profile.id if profile else None
        if not ids or not (full_history or (actor.can("engagements.end") and not self.everyone)):
            return
        for terms in session.scalars(
            select(EngagementTerms)
            .where(EngagementTerms.engagement_id.in_(ids))
            .order_by(EngagementTerms.engagement_id, EngagementTerms.effective_from)
        ):
            self.history[terms.engagement_id].append(terms)
        self.delegations = list(
            session.scalars(
                select(Delegation).where(
                    Delegation.delegate_user_id == actor.user_id, Delegation.revoked_at.is_(None)
                )
            )
        )
        if self.delegations and self.today is None:
            self.today = org_today(session, actor)

    def manager_of(self, sheet) -> tuple[int | None, date]:
        engagement = self.engagements[sheet.engagement_id]
        day = reviewer_day(engagement, sheet.week_start, sheet.week_end)
        terms = pricing.terms_for_day(self.history.get(engagement.id, []), day)
        return (terms.hiring_manager_user_id if terms else None), day

    def other_manager_days(self, sheet) -> list[date]:
        """Days of the week that fell under another manager than the reviewing day's
        (manager transfers are effective-dated)."""
        manager, _ = self.manager_of(sheet)
        history = self.history.get(sheet.engagement_id, [])
        return [
            day
            for day in rules.days_of(sheet.week_start, sheet.week_end)
            if (terms := pricing.terms_for_day(history, day)) is not None
            and terms.hiring_manager_user_id != manager
        ]

    def may_decide(self, sheet) -> bool:
        if self.own_profile_id is not None and sheet.freelancer_id == self.own_profile_id:
            return False
        if self.everyone:
            return True
        if not self.actor.can("engagements.end"):
            return False
        manager, day = self.manager_of(sheet)
        if manager is None:
            return False
        if manager == self.actor.user_id:
            return True
        return any(
            d.manager_user_id == manager and d.starts_on <= self.today <= d.ends_on
            for d in self.delegations
        )


@dataclass
class BulkPreview:
    timesheet_ids: list[int]
    count: int
    minutes: int
    half_days: int
    amounts: dict[str, Decimal]
    skipped: dict[int, str]


def preview_bulk_approval(
    session: Session, *, actor: Actor, timesheet_ids, today: date | None = None
) -> BulkPreview:
    """What approving these sheets would do: count, time and amount per currency (priced
    as invoice lines), and which are skipped and why. Statements: fixed."""
    ids = _ids(timesheet_ids)
    sheets = session.scalars(select(Timesheet).where(Timesheet.id.in_(ids))).all()
    reviewers = Reviewers(session, actor, {s.engagement_id for s in sheets}, today=today)
    found = {s.id: s for s in sheets}
    skipped, chosen = {}, []
    for sheet_id in ids:
        sheet = found.get(sheet_id)
        if sheet is None:
            skipped[sheet_id] = "not found"
        elif sheet.state != "submitted":
            skipped[sheet_id] = f"already {sheet.state}"
        elif not reviewers.may_decide(sheet):
            skipped[sheet_id] = "not yours to decide"
        else:
            chosen.append(sheet_id)
    items = [i for group in pricing.sheet_items(session, chosen).values() for i in group]
    return BulkPreview(
        timesheet_ids=chosen,
        count=len(chosen),
        minutes=sum(i.minutes for i in items),
        half_days=sum(i.quantity for i in items if i.kind == "day"),
        amounts=pricing.totals_by_currency(items),
        skipped=skipped,
    )


@dataclass
class BulkResult:
    approved: list[int]
    changed_meanwhile: list[int]
    not_allowed: list[int]


def bulk_approve(
    session: Session, *, actor: Actor, timesheet_ids, today: date | None = None
) -> BulkResult:
    """Approve many sheets in one set-based conditional update: only those still
    submitted that the actor may decide; what changed meanwhile is reported, not
    approved. One audit entry per sheet through the audit batch writer. A fixed number of
    statements whatever the number of sheets."""
    ids = _ids(timesheet_ids)
    sheets = session.scalars(select(Timesheet).where(Timesheet.id.in_(ids))).all()
    reviewers = Reviewers(session, actor, {s.engagement_id for s in sheets}, today=today)
    by_id = {s.id: s for s in sheets}
    allowed = [s.id for s in sheets if reviewers.may_decide(s)]
    not_allowed = sorted(set(by_id) - set(allowed))
    approved = []
    if allowed:
        approved = _move_all(
            session,
            actor,
            Timesheet.id.in_(allowed),
            source="submitted",
            to="approved",
            values={"decided_at": utcnow(), "decided_by_user_id": actor.user_id},
            after={"bulk": True},
        )
    notices.sheets_decided(
        session, org_id=actor.org_id, sheets=[by_id[i] for i in approved], state="approved"
    )
    hooks.record_event.send("timesheet.approved", session=session, ids=approved)
    for sheet_id in approved:
        session.expire(by_id[sheet_id])  # the row changed under the identity map
    missing = sorted(set(ids) - set(by_id))
    changed = sorted(set(allowed) - set(approved))
    return BulkResult(approved, changed + missing, not_allowed)


# --- adjustments ---------------------------------------------------------------------------


def create_adjustment(
    session: Session, *, actor: Actor, timesheet_id, work_date, reason, minutes=None, amount=None
) -> Adjustment:
    """A correction to an approved (or invoiced) sheet: signed minutes or a signed amount
    for one of its days, with a reason, by its freelancer or its reviewer; it is approved
    like a sheet. The day's corrected time stays within 0-24 h."""
    sheet = get_timesheet(session, actor=actor, timesheet_id=timesheet_id)
    engagement = engagement_of(session, sheet.engagement_id)
    profile = _profile_of(session, actor)
    if profile is None or profile.id != sheet.freelancer_id:
        require_reviewer(session, actor, engagement, sheet.week_start, sheet.week_end)
    if sheet.state not in ("approved", "invoiced"):
        raise RuleViolation("Adjustments correct approved time; edit the sheet itself instead.")
    day = date_in(work_date, "work_date")
    if not sheet.week_start <= day <= sheet.week_end:
        raise InvalidInput(
            "The corrected day is one of the sheet's week.",
            errors={"work_date": ["Outside the sheet's week."]},
        )
    reason = text_in(reason, limit=MAX_COMMENT, name="reason", required=True)
    if (minutes in (None, "")) == (amount in (None, "")):
        raise InvalidInput("Correct either minutes or an amount.", errors={"minutes": ["One."]})
    value_minutes = value_amount = None
    if minutes not in (None, ""):
        try:
            value_minutes = parse_int(minutes)
        except ValueError:
            raise InvalidInput(WHOLE_MESSAGE, errors={"minutes": [WHOLE_MESSAGE]}) from None
        if value_minutes == 0:
            raise InvalidInput("A correction changes something.", errors={"minutes": ["Not 0."]})
        recorded = session.scalar(
            select(func.coalesce(func.sum(TimesheetEntry.minutes), 0)).where(
                TimesheetEntry.timesheet_id == sheet.id, TimesheetEntry.work_date == day
            )
        ) + session.scalar(
            select(func.coalesce(func.sum(Adjustment.minutes), 0)).where(
                Adjustment.timesheet_id == sheet.id,
                Adjustment.work_date == day,
                Adjustment.state.in_(rules.COUNTED_STATES),
            )
        )
        if not 0 <= recorded + value_minutes <= rules.DAY_MINUTES:
            raise InvalidInput(
                "The corrected day must stay between 0 and 24 hours.",
                errors={"minutes": ["Out of range for this day."]},
            )
    else:
        value_amount = amount_in(amount, engagement.currency, positive=False)
    row = Adjustment(
        org_id=sheet.org_id,
        timesheet_id=sheet.id,
        engagement_id=engagement.id,
        work_date=day,
        minutes=value_minutes,
        amount=value_amount,
        currency=engagement.currency,
        reason=reason,
        state="draft",
        created_by_user_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "timesheet_adjustment.created",
        row,
        after={
            "timesheet_id": sheet.id,
            "work_date": day,
            "minutes": value_minutes,
            "amount": value_amount,
        },
    )
    return row


def _adjustment(session, actor, adjustment_id):
    row = get_in_org(session, Adjustment, adjustment_id, what="adjustment")
    get_timesheet(session, actor=actor, timesheet_id=row.timesheet_id)  # visibility
    return row


def submit_adjustment(
    session: Session, *, actor: Actor, adjustment_id, today: date | None = None
) -> Adjustment:
    """Its author submits a draft adjustment for approval, checked again now: a minute
    correction keeps the person's day within 0-24 h across all their engagements (profile
    row locked), and one that adds to the spend stays within the budget cap in effect
    (engagement row locked), as for sheets."""
    row = _adjustment(session, actor, adjustment_id)
    if row.created_by_user_id != actor.user_id:
        raise NotAllowed("The adjustment's author submits it.")
    sheet = session.scalar(select(Timesheet).where(Timesheet.id == row.timesheet_id))
    engagement = engagement_of(session, row.engagement_id)
    # the documented order: profile, engagement, then the adjustment's conditional update
    lock(session, session.get(Freelancer, sheet.freelancer_id))
    lock(session, engagement)
    if row.state != "draft":
        raise RuleViolation(f"Only a draft can be submitted; this adjustment is {row.state}.")
    if row.minutes:
        _check_adjusted_day(session, sheet, row)
    items = engagement_spend(session, engagement)
    added = pricing.adjustment_items(session, [row])
    if added[0].amount > 0:
        check_budget_cap(
            session,
            actor,
            engagement,
            items=items + added,
            on=row.work_date,
            today=acting_day(session, actor, today),
            what="this adjustment",
        )
    return transition(
        session,
        row,
        to="submitted",
        table=rules.ADJUSTMENT_TRANSITIONS,
        actor=actor,
        values={"submitted_at": utcnow()},
        label="adjustment",
    )


def _check_adjusted_day(session: Session, sheet: Timesheet, row: Adjustment) -> None:
    """A minute correction keeps its sheet's day at 0 h or more and the person's day, across
    all their engagements, at 24 h or less."""
    totals = _person_day_totals(
        session, sheet.freelancer_id, row.work_date, row.work_date, besides_adjustment=row.id
    )
    total = totals.get(row.work_date, 0) + row.minutes
    _refuse_long_day(row.work_date, total)
    if row.minutes < 0:
        own = sum(
            rules.counted_minutes(e.minutes, e.half_days)
            for e in entries_of(session, sheet.id)
            if e.work_date == row.work_date
        ) + (
            session.scalar(
                select(func.coalesce(func.sum(Adjustment.minutes), 0)).where(
                    Adjustment.timesheet_id == sheet.id,
                    Adjustment.work_date == row.work_date,
                    Adjustment.id != row.id,
                    Adjustment.state.in_(rules.COUNTED_STATES),
                )
            )
            or 0
        )
        if own + row.minutes < 0:
            raise RuleViolation(
                f"A correction leaves a day at 0 hours or more; {row.work_date.isoformat()} "
                f"has {own // 60}:{own % 60:02d} on this sheet."
            )


def decide_adjustment(
    session: Session,
    *,
    actor: Actor,
    adjustment_id,
    approve: bool,
    comment=None,
    today: date | None = None,
) -> Adjustment:
    """The original sheet's reviewer approves or rejects (comment required) an adjustment;
    never its own author."""
    row = _adjustment(session, actor, adjustment_id)
    sheet = session.scalar(select(Timesheet).where(Timesheet.id == row.timesheet_id))
    engagement = engagement_of(session, row.engagement_id)
    require_reviewer(session, actor, engagement, sheet.week_start, sheet.week_end, today=today)
    if row.created_by_user_id == actor.user_id:
        raise NotAllowed("Someone other than its author decides an adjustment.")
    decide(
        session,
        row,
        to="approved" if approve else "rejected",
        table=rules.ADJUSTMENT_TRANSITIONS,
        actor=actor,
        comment=comment_in(comment, not approve),
        label="adjustment",
    )
    notices.item_decided(
        session,
        row=row,
        what=f"adjustment of {row.work_date.isoformat()}",
        freelancer_id=sheet.freelancer_id,
        state=row.state,
    )
    return row


# --- invoicing's side: billed days and closed periods ----------------------------------------


def mark_invoiced(session: Session, *, actor: Actor, entry_ids, invoice_id: int) -> list[int]:
    """Invoicing marks approved day entries billed on an invoice, each at most once (a
    conditional update: all or a RuleViolation); a sheet becomes invoiced when all its
    days are. Returns the sheets that became invoiced."""
    ids = sorted(set(entry_ids))
    if not ids:
        return []
    approved_sheets = select(Timesheet.id).where(Timesheet.state == "approved")
    audit.take_head(session, actor.org_id)  # the first lock, outside the savepoint
    savepoint = session.begin_nested()  # a refusal leaves no day marked
    changed = session.execute(
        update(TimesheetEntry)
        .where(
            TimesheetEntry.id.in_(ids),
            TimesheetEntry.invoiced_at.is_(None),
            TimesheetEntry.timesheet_id.in_(approved_sheets),
        )
        .values(invoiced_at=utcnow(), invoice_id=invoice_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != len(ids):
        savepoint.rollback()
        raise RuleViolation("Some of these days are not approved or are invoiced already.")
    savepoint.commit()
    sheet_ids = select(TimesheetEntry.timesheet_id).where(TimesheetEntry.id.in_(ids))
    unbilled = exists().where(
        and_(TimesheetEntry.timesheet_id == Timesheet.id, TimesheetEntry.invoiced_at.is_(None))
    )
    done = _move_all(
        session,
        actor,
        Timesheet.id.in_(sheet_ids),
        ~unbilled,
        source="approved",
        to="invoiced",
        after={"invoice_id": invoice_id},
    )
    return done


# what invoicing bills besides day entries, and the state each is billed from
BILLED_FROM = {"timesheet_adjustment": "approved", "milestone": "accepted", "expense": "approved"}


def mark_items_invoiced(
    session: Session, *, actor: Actor, model, item_ids, invoice_id: int
) -> list[int]:
    """Invoicing marks approved adjustments, accepted milestones or approved expenses
    billed on an invoice, each at most once (a conditional update: all or a
    RuleViolation, nothing marked); they become invoiced, each with its audit entry."""
    source = BILLED_FROM[model.__tablename__]
    ids = sorted(set(item_ids))
    if not ids:
        return []
    audit.take_head(session, actor.org_id)  # the first lock, outside the savepoint
    savepoint = session.begin_nested()
    marked = session.scalars(
        update(model)
        .where(model.id.in_(ids), model.state == source, model.invoiced_at.is_(None))
        .values(state="invoiced", invoiced_at=utcnow(), invoice_id=invoice_id)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    ).all()
    if len(marked) != len(ids):
        savepoint.rollback()
        raise RuleViolation(f"Some of these are not {source} or are invoiced already.")
    savepoint.commit()
    audit.record_many(
        session,
        actor,
        [
            audit.Change(
                f"{model.__tablename__}.invoiced",
                model.__tablename__,
                item_id,
                before={"state": source},
                after={"state": "invoiced", "invoice_id": invoice_id},
            )
            for item_id in sorted(marked)
        ],
    )
    return sorted(marked)


def release_invoiced(
    session: Session, *, actor: Actor, invoice_id: int, entry_ids=None, item_ids=None
) -> int:
    """Invoicing releases items a discarded draft or a crediting note held, so the next
    close bills them again: the one way back from invoiced. Only items still marked with
    `invoice_id` change (a conditional update); day entries lose the mark and their sheets
    return to approved; adjustments, milestones and expenses return to the state they are
    billed from. `entry_ids` / `item_ids` ({table name: ids}) narrow it; None: all of the
    invoice's. Each change is audited; returns how many items were released."""
    from fms.timesheets.models import Expense, Milestone

    audit.take_head(session, actor.org_id)
    entry_filter = [TimesheetEntry.invoice_id == invoice_id]
    if entry_ids is not None:
        entry_filter.append(TimesheetEntry.id.in_(sorted(set(entry_ids))))
    sheet_ids = sorted(
        set(session.scalars(select(TimesheetEntry.timesheet_id).where(*entry_filter)))
    )
    released = session.execute(
        update(TimesheetEntry)
        .where(*entry_filter)
        .values(invoice_id=None, invoiced_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    sheets = sorted(
        session.scalars(
            update(Timesheet)
            .where(Timesheet.id.in_(sheet_ids), Timesheet.state == "invoiced")
            .values(state="approved")
            .returning(Timesheet.id)
            .execution_options(synchronize_session=False)
        ).all()
    )
    changes = [
        audit.Change(
            "timesheet.released",
            "timesheet",
            sheet_id,
            before={"state": "invoiced", "invoice_id": invoice_id},
            after={"state": "approved"},
        )
        for sheet_id in sheets
    ]
    for model in (Adjustment, Milestone, Expense):
        name = model.__tablename__
        where = [model.invoice_id == invoice_id, model.state == "invoiced"]
        if item_ids is not None:
            where.append(model.id.in_(sorted(set(item_ids.get(name, ())))))
        moved = sorted(
            session.scalars(
                update(model)
                .where(*where)
                .values(state=BILLED_FROM[name], invoice_id=None, invoiced_at=None)
                .returning(model.id)
                .execution_options(synchronize_session=False)
            ).all()
        )
        released += len(moved)
        changes += [
            audit.Change(
                f"{name}.released",
                name,
                item_id,
                before={"state": "invoiced", "invoice_id": invoice_id},
                after={"state": BILLED_FROM[name]},
            )
            for item_id in moved
        ]
    audit.record_many(session, actor, changes)
    return released


def lock_period(session: Session, *, actor: Actor, period_start, period_end) -> PeriodLock:
    """Invoicing records a closed billing period (once: 409 for a second close)."""
    start, end = date_in(period_start, "period_start"), date_in(period_end, "period_end")
    if end < start:
        raise InvalidInput("The period ends after it starts.", errors={"period_end": ["Order."]})
    row = add_unique(
        session,
        PeriodLock(
            org_id=actor.org_id, period_start=start, period_end=end, locked_by_user_id=actor.user_id
        ),
        existing=lambda: session.scalar(
            select(PeriodLock.id).where(PeriodLock.period_start == start)
        ),
        detail="This period is closed already.",
    )
    audit.record(session, actor, "timesheet_period.locked", row, after={"start": start, "end": end})
    return row


def locked_period(session: Session, day: date) -> PeriodLock | None:
    return session.scalar(
        select(PeriodLock).where(PeriodLock.period_start <= day, PeriodLock.period_end >= day)
    )

"""The freelancer's sheets: my weeks, the week grid (save, submit, copy last week), and the
read-only sheet with its decision and adjustments for everyone who may see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from fms.errors import AlreadyExists, InvalidInput, RuleViolation
from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity.web_session import current_actor, org_today
from fms.timesheets import queries, rules, services
from fms.timesheets.forms import (
    DAY_CHOICES,
    AdjustmentForm,
    CommentForm,
    OpenWeekForm,
    parse_duration,
    parse_signed_duration,
    show_duration,
)
from fms.timesheets.models import Adjustment, TaskCode, Timesheet
from fms.timesheets.views import bp
from fms.workforce.models import Engagement, Freelancer

# --- reads the pages share -----------------------------------------------------------------


def my_engagements(actor, today: date) -> list[Engagement]:
    """The actor's engagements as a freelancer that may still take time or costs (active,
    or ended up to eight weeks ago, for late sheets), newest first."""
    if not actor.can("own_engagements.read"):
        return []
    return list(
        db.session.scalars(
            select(Engagement)
            .join(Freelancer, Freelancer.id == Engagement.freelancer_id)
            .where(
                Freelancer.user_id == actor.user_id,
                Engagement.state.in_(("active", "ended")),
                Engagement.end_date >= today - timedelta(weeks=8),
            )
            .order_by(Engagement.start_date.desc(), Engagement.id.desc())
        )
    )


def active_task_codes() -> list[TaskCode]:
    return list(
        db.session.scalars(select(TaskCode).where(TaskCode.is_active).order_by(TaskCode.code))
    )


def engagement_titles(ids) -> dict[int, str]:
    ids = set(ids)
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(Engagement.id, Engagement.title).where(Engagement.id.in_(ids))
        ).all()
    )


def is_owner(actor, sheet: Timesheet) -> bool:
    return services.is_freelancer_of(db.session, actor, sheet)


def may_review(actor, sheet: Timesheet) -> bool:
    return services.Reviewers(
        db.session, actor, {sheet.engagement_id}, full_history=True, today=org_today()
    ).may_decide(sheet)


# --- my sheets -----------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    actor = current_actor()
    if not actor.can("own_engagements.read"):
        return redirect(url_for(".review"))
    return _index(actor, OpenWeekForm())


def _index(actor, open_form: OpenWeekForm):
    today = org_today()
    schedule = services.week_schedule(db.session)
    week_start, week_end = rules.week_bounds(today, schedule)
    engagements = my_engagements(actor, today)
    timed = [e for e in engagements if e.kind in rules.TIME_KINDS]
    history = queries.freelancer_history(db.session, actor=actor, today=today)
    this_week = {r.sheet.engagement_id: r for r in history if r.sheet.week_start == week_start}
    open_form.engagement_id.choices = [(e.id, e.title) for e in timed]
    if not open_form.week_start.data:
        open_form.week_start.data = week_start
    titles = {e.id: e.title for e in engagements}
    titles |= engagement_titles({r.sheet.engagement_id for r in history} - set(titles))
    return render_template(
        "timesheets/index.html",
        week_start=week_start,
        week_end=week_end,
        current=[
            (e, this_week.get(e.id))
            for e in timed
            if e.state == "active" and e.start_date <= week_end and e.end_date >= week_start
        ],
        engagements=engagements,
        history=[r for r in history if r.sheet.week_start != week_start],
        sent_back=[r for r in history if r.sheet.state == "rejected"],
        titles=titles,
        open_form=open_form,
        today=today,
    ), status_of(open_form)


@bp.route("/open", methods=["POST"])
@login_required
def open_week():
    """Open (or go to) the sheet of one of my engagements for a week."""
    actor = current_actor()
    form = OpenWeekForm()
    form.engagement_id.choices = [
        (e.id, e.title) for e in my_engagements(actor, org_today()) if e.kind in rules.TIME_KINDS
    ]

    def open_it():
        try:
            return services.open_timesheet(
                db.session,
                actor=actor,
                engagement_id=form.engagement_id.data,
                week_start=form.week_start.data,
            ), True
        except AlreadyExists as exc:
            return services.get_timesheet(
                db.session, actor=actor, timesheet_id=exc.existing_id
            ), False
        except InvalidInput as exc:  # the whole sentence says which day the week starts
            raise InvalidInput(exc.detail, errors={k: [exc.detail] for k in exc.errors}) from None

    done = submitted(
        form,
        open_it,
        success=lambda r: "Week opened: fill in your time." if r[1] else "This week is open.",
        then=lambda r: url_for(".sheet", timesheet_id=r[0].id),
    )
    return done or _index(actor, form)


# --- the week grid -------------------------------------------------------------------------


@dataclass
class Cell:
    day: date
    index: int
    enabled: bool
    time: str = ""  # hourly: as typed or h:mm
    days: str = ""  # daily: "", "0.5", "1"
    task: str = ""
    note: str = ""
    minutes: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def _cells(sheet: Timesheet, engagement: Engagement) -> list[Cell]:
    entries = {e.work_date: e for e in services.entries_of(db.session, sheet.id)}
    codes = dict(db.session.execute(select(TaskCode.id, TaskCode.code)).all())
    cells = []
    for index, day in enumerate(rules.days_of(sheet.week_start, sheet.week_end)):
        cell = Cell(day, index, engagement.start_date <= day <= engagement.end_date)
        entry = entries.get(day)
        if entry is not None:
            cell.minutes = entry.minutes
            cell.time = show_duration(entry.minutes)
            if entry.half_days:
                cell.days = "1" if entry.half_days == 2 else "0.5"
                cell.minutes = rules.counted_minutes(0, entry.half_days)
            cell.task = codes.get(entry.task_code_id, "")
            cell.note = entry.note or ""
        cells.append(cell)
    return cells


def _read_cells(cells: list[Cell], daily: bool) -> bool:
    """Take the posted grid into the cells; False when a cell does not parse."""
    ok = True
    for cell in cells:
        if not cell.enabled:
            continue
        i = cell.index
        cell.task = (request.form.get(f"task-{i}") or "").strip()[:30]
        cell.note = (request.form.get(f"note-{i}") or "").strip()
        if daily:
            cell.days = (request.form.get(f"days-{i}") or "").strip()
            if cell.days not in {v for v, _ in DAY_CHOICES}:
                cell.errors["time"] = "Choose a full or half day."
                cell.days, ok = "", False
            cell.minutes = {"": 0, "0.5": 240, "1": 480}.get(cell.days, 0)
            continue
        cell.time = (request.form.get(f"time-{i}") or "").strip()[:20]
        try:
            cell.minutes = parse_duration(cell.time)
        except ValueError as exc:
            cell.errors["time"] = str(exc)
            cell.minutes, ok = 0, False
    return ok


_CELL_FIELD = {"minutes": "time", "days": "time", "work_date": "time", "task_code": "task"}


def _save(actor, sheet: Timesheet, cells: list[Cell], daily: bool) -> None:
    """save_entries for the enabled days; its per-entry errors land on their cells."""
    shown = [c for c in cells if c.enabled]
    entries = []
    for cell in shown:
        entry = {"work_date": cell.day.isoformat(), "task_code": cell.task, "note": cell.note}
        if daily:
            entry["days"] = cell.days or "0"
        else:
            entry["minutes"] = cell.minutes
        entries.append(entry)
    try:
        services.save_entries(db.session, actor=actor, timesheet_id=sheet.id, entries=entries)
    except InvalidInput as exc:
        for key, messages in (exc.errors or {}).items():
            parts = key.split(".")
            if len(parts) >= 2 and parts[0] == "entries" and parts[1].isdigit():
                cell = shown[int(parts[1])] if int(parts[1]) < len(shown) else None
                if cell is not None:
                    name = _CELL_FIELD.get(parts[2] if len(parts) > 2 else "", parts[-1])
                    cell.errors.setdefault(name, " ".join(messages))
        raise


@bp.route("/<int:timesheet_id>", methods=["GET", "POST"])
@login_required
def sheet(timesheet_id: int):
    actor = current_actor()
    sheet = services.get_timesheet(db.session, actor=actor, timesheet_id=timesheet_id)
    engagement = services.engagement_of(db.session, sheet.engagement_id)
    daily = engagement.kind == "daily"
    cells = _cells(sheet, engagement)
    problem = None
    if request.method == "POST":
        action = request.form.get("action", "save")
        parsed = _read_cells(cells, daily)
        # the service checks the cells that did parse too, so every error shows at once
        try:
            _save(actor, sheet, cells, daily)
        except InvalidInput as exc:
            db.session.rollback()
            problem = exc.detail
        else:
            if parsed:
                return _after_save(actor, sheet, action)
            db.session.rollback()
        if not parsed:
            problem = "Check the highlighted days: nothing was saved."
    return _render_sheet(actor, sheet, engagement, cells, problem=problem)


def _after_save(actor, sheet: Timesheet, action: str):
    here = url_for(".sheet", timesheet_id=sheet.id)
    if action != "submit":
        db.session.commit()
        flash("Draft saved.", "success")
        return redirect(here)
    try:
        with db.session.begin_nested():
            result = services.submit_timesheet(
                db.session, actor=actor, timesheet_id=sheet.id, today=org_today()
            )
    except RuleViolation as exc:
        db.session.commit()  # the time typed is kept as a draft
        flash(f"Saved as a draft, not submitted. {exc.detail}", "danger")
        return redirect(here)
    db.session.commit()
    flash("Submitted for approval. Your manager has been told.", "success")
    for warning in result.warnings:
        flash(warning, "warning")
    return redirect(here)


def _render_sheet(
    actor, sheet, engagement, cells, *, problem=None, comment_form=None, adj_form=None
):
    owner = is_owner(actor, sheet)
    editable = owner and sheet.state in ("draft", "rejected")
    reviewer = sheet.state == "submitted" and not owner and may_review(actor, sheet)
    adjustments = list(
        db.session.scalars(
            select(Adjustment).where(Adjustment.timesheet_id == sheet.id).order_by(Adjustment.id)
        )
    )
    may_correct = sheet.state in ("approved", "invoiced") and (owner or may_review(actor, sheet))
    if may_correct and adj_form is None:
        adj_form = _adjustment_form(sheet)
    codes = active_task_codes()
    used = {c.task for c in cells if c.task} - {c.code for c in codes}
    daily = engagement.kind == "daily"
    totals_minutes = sum(c.minutes for c in cells)
    previous = None
    if editable:
        previous = db.session.scalar(
            select(Timesheet.id)
            .where(
                Timesheet.engagement_id == sheet.engagement_id,
                Timesheet.week_start < sheet.week_start,
            )
            .order_by(Timesheet.week_start.desc())
            .limit(1)
        )
    freelancer = db.session.get(Freelancer, sheet.freelancer_id)
    budget = _budget(sheet, engagement) if reviewer else None
    weeks = {
        "previous": _neighbour(sheet, Timesheet.week_start < sheet.week_start, descending=True),
        "next": _neighbour(sheet, Timesheet.week_start > sheet.week_start, descending=False),
    }
    decided_by = None
    if sheet.decided_by_user_id:
        from fms.identity.models import User

        decided_by = db.session.get(User, sheet.decided_by_user_id)
    status = 422 if problem or (comment_form and comment_form.errors) else 200
    if adj_form is not None and (adj_form.errors or adj_form.form_errors):
        status = 422
    return render_template(
        "timesheets/sheet.html",
        sheet=sheet,
        engagement=engagement,
        freelancer=freelancer,
        cells=cells,
        daily=daily,
        day_choices=DAY_CHOICES,
        codes=codes,
        retired_codes=sorted(used),
        editable=editable,
        owner=owner,
        reviewer=reviewer,
        problem=problem,
        total_minutes=totals_minutes,
        total_half_days=sum({"0.5": 1, "1": 2}.get(c.days, 0) for c in cells),
        comment_form=comment_form or CommentForm(),
        adjustments=adjustments,
        adj_form=adj_form if may_correct else None,
        previous=previous,
        decided_by=decided_by,
        today=org_today(),
        budget=budget,
        weeks=weeks,
    ), status


def _neighbour(sheet: Timesheet, condition, *, descending: bool) -> int | None:
    """The engagement's sheet just before or after this one, if any."""
    order = Timesheet.week_start.desc() if descending else Timesheet.week_start
    return db.session.scalar(
        select(Timesheet.id)
        .where(Timesheet.engagement_id == sheet.engagement_id, condition)
        .order_by(order)
        .limit(1)
    )


def _budget(sheet: Timesheet, engagement: Engagement) -> dict | None:
    """For the reviewer: the engagement's submitted and approved spend (this week included,
    as the submission counted it) against the cap in effect at the week's end."""
    from decimal import Decimal

    from fms.timesheets import pricing
    from fms.workforce.engagements import terms_on

    terms = terms_on(db.session, engagement.id, sheet.week_end)
    if terms is None or not terms.budget_cap:
        return None
    items = services.engagement_spend(db.session, engagement)
    used = pricing.totals_by_currency(items).get(engagement.currency, Decimal(0))
    return {
        "used": used,
        "cap": terms.budget_cap,
        "currency": engagement.currency,
        "percent": int(used * 100 / terms.budget_cap),
        "level": rules.budget_level(used, terms.budget_cap),
    }


@bp.post("/<int:timesheet_id>/copy-last-week")
@login_required
def copy_last_week(timesheet_id: int):
    """Copy the previous sheet's days (time, task code, note) into this week's empty days."""
    here = url_for(".sheet", timesheet_id=timesheet_id)
    try:
        result = services.copy_previous_week(
            db.session, actor=current_actor(), timesheet_id=timesheet_id
        )
    except services.NothingToCopy as exc:
        db.session.rollback()
        flash(exc.detail, "info")
        return redirect(here)
    db.session.commit()
    flash(
        f"Copied {result.days} day{'s' if result.days != 1 else ''} from the week of "
        f"{result.source_week_start.isoformat()}. Check them, then save or submit.",
        "success",
    )
    return redirect(here)


# --- adjustments of an approved sheet ------------------------------------------------------


def _adjustment_form(sheet: Timesheet, **kwargs) -> AdjustmentForm:
    form = AdjustmentForm(**kwargs)
    form.work_date.choices = [
        (d.isoformat(), d.strftime("%a %d %b"))
        for d in rules.days_of(sheet.week_start, sheet.week_end)
    ]
    return form


@bp.post("/<int:timesheet_id>/adjustments")
@login_required
def create_adjustment(timesheet_id: int):
    actor = current_actor()
    sheet = services.get_timesheet(db.session, actor=actor, timesheet_id=timesheet_id)
    form = _adjustment_form(sheet)

    def create():
        minutes = amount = None
        if form.kind.data == "minutes":
            try:
                minutes = parse_signed_duration(form.value.data)
            except ValueError as exc:
                raise InvalidInput(str(exc), errors={"value": [str(exc)]}) from None
        else:
            amount = (form.value.data or "").strip().lstrip("+")
        return services.create_adjustment(
            db.session,
            actor=actor,
            timesheet_id=sheet.id,
            work_date=form.work_date.data,
            reason=form.reason.data,
            minutes=minutes,
            amount=amount,
        )

    done = submitted(
        form,
        create,
        rename={"minutes": "value", "amount": "value"},
        success="Correction drafted. Submit it when it is right; it is approved like a sheet.",
        then=lambda _: url_for(".sheet", timesheet_id=sheet.id) + "#adjustments",
    )
    if done:
        return done
    engagement = services.engagement_of(db.session, sheet.engagement_id)
    return _render_sheet(actor, sheet, engagement, _cells(sheet, engagement), adj_form=form)


@bp.post("/adjustments/<int:adjustment_id>/submit")
@login_required
def submit_adjustment(adjustment_id: int):
    actor = current_actor()
    row = services.submit_adjustment(db.session, actor=actor, adjustment_id=adjustment_id)
    target = url_for(".sheet", timesheet_id=row.timesheet_id) + "#adjustments"
    db.session.commit()
    flash("Correction submitted for approval.", "success")
    return redirect(target)

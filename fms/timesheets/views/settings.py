"""The organization's timesheet settings: the weekday weeks start on, and task codes."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy import select

from fms.errors import InvalidInput, NotAllowed, RuleViolation
from fms.extensions import db
from fms.forms import submitted
from fms.identity.web_session import current_actor, org_today
from fms.timesheets import rules, services
from fms.timesheets.forms import TaskCodeForm, WeekStartForm
from fms.timesheets.models import TaskCode
from fms.timesheets.views import bp


def _require_settings(actor) -> None:
    if not (actor.can("organization.manage") or actor.can("engagements.manage")):
        raise NotAllowed("Timesheet settings are for org admins and procurement.")


@bp.get("/settings")
@login_required
def settings():
    actor = current_actor()
    _require_settings(actor)
    return _settings(actor)


def _settings(actor, *, week_form=None, code_form=None):
    today = org_today()
    schedule = services.week_schedule(db.session)
    current = rules.DEFAULT_WEEK_START
    for effective_from, weekday in schedule:
        if effective_from <= today:
            current = weekday
    pending = [(d, w) for d, w in schedule if d > today]
    week_form = week_form or WeekStartForm(week_start=current)
    code_form = code_form or TaskCodeForm()
    failed = week_form.errors or code_form.errors or getattr(code_form, "form_errors", None)
    return render_template(
        "timesheets/settings.html",
        current=current,
        pending=pending[0] if pending else None,
        weekdays=rules.WEEKDAYS,
        week_form=week_form,
        code_form=code_form,
        codes=db.session.scalars(select(TaskCode).order_by(TaskCode.code)).all(),
        may_week=actor.can("organization.manage"),
        may_codes=actor.can("engagements.manage"),
    ), (422 if failed else 200)


@bp.post("/settings/week-start")
@login_required
def set_week_start():
    actor = current_actor()
    form = WeekStartForm()
    if form.validate():
        try:
            row = services.set_week_start(
                db.session, actor=actor, weekday=form.week_start.data, today=org_today()
            )
        except (InvalidInput, RuleViolation) as exc:
            db.session.rollback()
            form.week_start.errors = [exc.detail]
        else:
            message = (
                f"Weeks will start on {rules.WEEKDAYS[row.weekday]} from "
                f"{row.effective_from.isoformat()}; the current week and sheets already "
                "open keep their dates."
            )
            db.session.commit()
            flash(message, "success")
            return redirect(url_for(".settings"))
    _require_settings(actor)
    return _settings(actor, week_form=form)


@bp.post("/settings/task-codes")
@login_required
def add_task_code():
    actor = current_actor()
    form = TaskCodeForm()
    done = submitted(
        form,
        lambda: services.add_task_code(
            db.session, actor=actor, code=form.code.data, name=form.name.data
        ),
        success=lambda row: f"Task code {row.code} added.",
        then=url_for(".settings") + "#task-codes",
    )
    if done:
        return done
    _require_settings(actor)
    return _settings(actor, code_form=form)


@bp.post("/settings/task-codes/<int:task_code_id>/active")
@login_required
def toggle_task_code(task_code_id: int):
    actor = current_actor()
    row = services.get_in_org(db.session, TaskCode, task_code_id, what="task code")
    row = services.set_task_code_active(
        db.session, actor=actor, task_code_id=task_code_id, active=not row.is_active
    )
    message = (
        f"{row.code} can be chosen again."
        if row.is_active
        else f"{row.code} retired: entries that used it keep it; new entries cannot choose it."
    )
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".settings") + "#task-codes")

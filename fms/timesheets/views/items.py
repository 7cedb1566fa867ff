"""One engagement's timesheet page: its weeks, milestones (fixed fee), expenses with their
receipts, and its time rounding."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from fms import storage
from fms.errors import InvalidInput
from fms.extensions import db
from fms.forms import submitted
from fms.identity.web_session import current_actor
from fms.tenancy import get_in_org
from fms.timesheets import expenses, milestones, rules, services
from fms.timesheets.forms import (
    ROUNDING_LABELS,
    CommentForm,
    ExpenseForm,
    MilestoneForm,
    RoundingForm,
)
from fms.timesheets.models import Expense, Milestone, TimeRounding, Timesheet
from fms.timesheets.views import bp, decide_then
from fms.workforce.models import Engagement


def engagement_for(actor, engagement_id) -> Engagement:
    return services.visible_engagement(db.session, actor, engagement_id)


def own_only(actor, engagement_id) -> Engagement:
    return services.freelancers_own(
        db.session, actor, engagement_id, "Only the engagement's freelancer does this."
    )


def expense_for(actor, expense_id) -> Expense:
    """An expense the actor may see: staff of its organization, or its own freelancer."""
    row = get_in_org(db.session, Expense, expense_id, what="expense")
    engagement_for(actor, row.engagement_id)
    return row


def _hub_url(engagement_id: int, anchor: str = "") -> str:
    return url_for(".engagement", engagement_id=engagement_id) + (f"#{anchor}" if anchor else "")


def _back(engagement_id: int, anchor: str) -> str:
    """Where a decision returns: the review queue when it was taken there."""
    if request.form.get("back") == "review":
        return url_for(".review") + "#items"
    return _hub_url(engagement_id, anchor)


@bp.get("/engagements/<int:engagement_id>")
@login_required
def engagement(engagement_id: int):
    return _hub(current_actor(), engagement_id)


def _hub(actor, engagement_id, *, milestone_form=None, expense_form=None, rounding_form=None):
    engagement = engagement_for(actor, engagement_id)
    own = not actor.can("engagements.read")
    sheets = db.session.scalars(
        select(Timesheet)
        .where(Timesheet.engagement_id == engagement.id)
        .order_by(Timesheet.week_start.desc())
        .limit(104)
    ).all()
    milestone_rows = db.session.scalars(
        select(Milestone)
        .where(Milestone.engagement_id == engagement.id)
        .order_by(Milestone.due_date)
    ).all()
    expense_rows = db.session.scalars(
        select(Expense)
        .where(Expense.engagement_id == engagement.id)
        .order_by(Expense.spent_on.desc(), Expense.id.desc())
    ).all()
    rounding = db.session.scalar(
        select(TimeRounding.mode).where(TimeRounding.engagement_id == engagement.id)
    )
    manages = actor.can("engagements.manage")
    reviews = actor.can("engagements.end") or manages
    if rounding_form is None and manages:
        rounding_form = RoundingForm(mode=rounding or "none")
    if expense_form is None and own:
        expense_form = ExpenseForm(currency=engagement.currency)
    if milestone_form is None and reviews and engagement.kind == "fixed":
        milestone_form = MilestoneForm()
    forms = [f for f in (milestone_form, expense_form, rounding_form) if f is not None]
    failed = any(f.errors or getattr(f, "form_errors", None) for f in forms)
    return render_template(
        "timesheets/engagement.html",
        engagement=engagement,
        own=own,
        reviews=reviews,
        sheets=sheets,
        milestones=milestone_rows,
        expenses=expense_rows,
        rounding=ROUNDING_LABELS.get(rounding or "none"),
        timed=engagement.kind in rules.TIME_KINDS,
        milestone_form=milestone_form,
        expense_form=expense_form,
        rounding_form=rounding_form if engagement.kind in rules.TIME_KINDS else None,
        comment_form=CommentForm(),
    ), (422 if failed else 200)


# --- milestones ----------------------------------------------------------------------------


@bp.post("/engagements/<int:engagement_id>/milestones")
@login_required
def create_milestone(engagement_id: int):
    actor = current_actor()
    engagement = engagement_for(actor, engagement_id)
    form = MilestoneForm()
    done = submitted(
        form,
        lambda: milestones.create_milestone(
            db.session,
            actor=actor,
            engagement_id=engagement.id,
            title=form.title.data,
            amount=form.amount.data,
            due_date=form.due_date.data,
        ),
        success=lambda m: f"Milestone “{m.title}” added.",
        then=_hub_url(engagement.id, "milestones"),
    )
    return done or _hub(actor, engagement.id, milestone_form=form)


@bp.post("/milestones/<int:milestone_id>/deliver")
@login_required
def deliver_milestone(milestone_id: int):
    """Mark delivered, with the deliverable attached if one is uploaded: a refused file
    (type by content, size) stores nothing and delivers nothing."""
    actor = current_actor()
    engagement_id = get_in_org(db.session, Milestone, milestone_id, what="milestone").engagement_id
    own_only(actor, engagement_id)
    target = _hub_url(engagement_id, "milestones")
    upload = request.files.get("deliverable")
    try:
        if upload is not None and upload.filename:
            stored = storage.store_upload(db.session, upload, actor=actor, field="deliverable")
            milestones.attach_deliverable(
                db.session, actor=actor, milestone_id=milestone_id, file_id=stored.id
            )
        milestones.deliver_milestone(db.session, actor=actor, milestone_id=milestone_id)
    except InvalidInput as refused:
        db.session.rollback()
        messages = [m for ms in refused.errors.values() for m in ms] or [refused.detail]
        flash(f"Not delivered: {messages[0]}", "danger")
        return redirect(target)
    db.session.commit()
    flash("Marked delivered; your manager reviews it next.", "success")
    return redirect(target)


@bp.get("/milestones/<int:milestone_id>/deliverable")
@login_required
def deliverable(milestone_id: int):
    """The milestone's deliverable, for those who may see the milestone (anyone else: 404)."""
    actor = current_actor()
    row = get_in_org(db.session, Milestone, milestone_id, what="milestone")
    engagement_for(actor, row.engagement_id)
    stored = milestones.deliverable_of(db.session, row)
    if stored is None:
        flash("This milestone has no deliverable on file.", "info")
        return redirect(_hub_url(row.engagement_id, "milestones"))
    return storage.send_stored(stored)


@bp.post("/milestones/<int:milestone_id>/decide")
@login_required
def decide_milestone(milestone_id: int):
    actor = current_actor()
    accept = request.form.get("decision") == "accept"
    row = get_in_org(db.session, Milestone, milestone_id, what="milestone")
    engagement_for(actor, row.engagement_id)
    return decide_then(
        lambda comment: milestones.decide_milestone(
            db.session, actor=actor, milestone_id=milestone_id, accept=accept, comment=comment
        ),
        target=_back(row.engagement_id, "milestones"),
        message="Milestone accepted." if accept else "Milestone sent back with your comment.",
    )


# --- expenses ------------------------------------------------------------------------------


@bp.post("/engagements/<int:engagement_id>/expenses")
@login_required
def create_expense(engagement_id: int):
    actor = current_actor()
    engagement = own_only(actor, engagement_id)
    form = ExpenseForm()

    def create():
        receipt_file_id = None
        upload = form.receipt.data
        if upload is not None and getattr(upload, "filename", ""):
            stored = storage.store_upload(db.session, upload, actor=actor, field="receipt")
            receipt_file_id = stored.id
        return expenses.create_expense(
            db.session,
            actor=actor,
            engagement_id=engagement.id,
            spent_on=form.spent_on.data,
            category=form.category.data,
            amount=form.amount.data,
            currency=(form.currency.data or "").strip().upper(),
            description=form.description.data or "",
            receipt_file_id=receipt_file_id,
        )

    done = submitted(
        form,
        create,
        success="Expense saved as a draft. Submit it when it is complete.",
        then=_hub_url(engagement.id, "expenses"),
    )
    return done or _hub(actor, engagement.id, expense_form=form)


@bp.post("/expenses/<int:expense_id>/submit")
@login_required
def submit_expense(expense_id: int):
    actor = current_actor()
    own_only(actor, expense_for(actor, expense_id).engagement_id)
    row = expenses.submit_expense(db.session, actor=actor, expense_id=expense_id)
    target = _hub_url(row.engagement_id, "expenses")
    db.session.commit()
    flash("Expense submitted for approval.", "success")
    return redirect(target)


@bp.post("/expenses/<int:expense_id>/decide")
@login_required
def decide_expense(expense_id: int):
    actor = current_actor()
    approve = request.form.get("decision") == "approve"
    row = expense_for(actor, expense_id)
    return decide_then(
        lambda comment: expenses.decide_expense(
            db.session, actor=actor, expense_id=expense_id, approve=approve, comment=comment
        ),
        target=_back(row.engagement_id, "expenses"),
        message="Expense approved." if approve else "Expense rejected with your comment.",
    )


@bp.get("/expenses/<int:expense_id>/receipt")
@login_required
def receipt(expense_id: int):
    """The expense's receipt, for those who may see the expense (anyone else: 404)."""
    row = expense_for(current_actor(), expense_id)
    stored = expenses.receipt_of(db.session, row)
    if stored is None:
        flash("This expense has no receipt on file.", "info")
        return redirect(_hub_url(row.engagement_id, "expenses"))
    return storage.send_stored(stored)


# --- time rounding -------------------------------------------------------------------------


@bp.post("/engagements/<int:engagement_id>/rounding")
@login_required
def set_rounding(engagement_id: int):
    actor = current_actor()
    engagement = engagement_for(actor, engagement_id)
    form = RoundingForm()
    done = submitted(
        form,
        lambda: services.set_time_rounding(
            db.session, actor=actor, engagement_id=engagement.id, mode=form.mode.data
        ),
        success=lambda r: (
            f"Time rounding: {ROUNDING_LABELS.get(r.mode, r.mode)}. "
            "Stored minutes never change; billing rounds each day."
        ),
        then=_hub_url(engagement.id, "rounding"),
    )
    return done or _hub(actor, engagement.id, rounding_form=form)

"""The reviewer's pages: the queue (sheets and corrections waiting), bulk approval with its
confirmation, approve or reject one sheet, decide a correction."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from fms.errors import InvalidInput, NotAllowed
from fms.extensions import db
from fms.identity.web_session import current_actor, org_today
from fms.timesheets import queries, services
from fms.timesheets.forms import CommentForm
from fms.timesheets.models import Adjustment, Timesheet
from fms.timesheets.views import bp, decide_then
from fms.timesheets.views.sheets import _cells, _render_sheet, engagement_titles
from fms.workforce.models import Freelancer


def _require_reviewer_role(actor) -> None:
    if not (actor.can("engagements.end") or actor.can("engagements.manage")):
        raise NotAllowed(
            "The review queue is for hiring managers, their stand-ins and procurement."
        )


def _pending_adjustments(actor):
    """Submitted corrections the actor may decide (not their own), with their sheets."""
    rows = db.session.scalars(
        select(Adjustment).where(Adjustment.state == "submitted").order_by(Adjustment.id)
    ).all()
    if not rows:
        return []
    sheets = {
        s.id: s
        for s in db.session.scalars(
            select(Timesheet).where(Timesheet.id.in_({r.timesheet_id for r in rows}))
        )
    }
    reviewers = services.Reviewers(
        db.session,
        actor,
        {s.engagement_id for s in sheets.values()},
        full_history=True,
        today=org_today(),
    )
    names = dict(
        db.session.execute(
            select(Freelancer.id, Freelancer.display_name).where(
                Freelancer.id.in_({s.freelancer_id for s in sheets.values()})
            )
        ).all()
    )
    return [
        (row, sheets[row.timesheet_id], names.get(sheets[row.timesheet_id].freelancer_id, ""))
        for row in rows
        if row.created_by_user_id != actor.user_id
        and reviewers.may_decide(sheets[row.timesheet_id])
    ]


def _pending_items(actor):
    """Submitted expenses and delivered milestones the actor may decide: the reviewer of the
    expense's week, the engagement's manager today for a milestone (the services' own
    rules, asked per item through the same Reviewers table the queue uses)."""
    from types import SimpleNamespace

    from fms.timesheets.models import Expense, Milestone
    from fms.timesheets.rules import week_bounds

    expense_rows = db.session.scalars(
        select(Expense).where(Expense.state == "submitted").order_by(Expense.spent_on)
    ).all()
    milestone_rows = db.session.scalars(
        select(Milestone).where(Milestone.state == "delivered").order_by(Milestone.due_date)
    ).all()
    if not expense_rows and not milestone_rows:
        return [], [], {}
    ids = {r.engagement_id for r in [*expense_rows, *milestone_rows]}
    reviewers = services.Reviewers(db.session, actor, ids, full_history=True, today=org_today())
    schedule = services.week_schedule(db.session)

    def may(engagement_id, first, last):
        engagement = reviewers.engagements[engagement_id]
        item = SimpleNamespace(
            engagement_id=engagement_id,
            freelancer_id=engagement.freelancer_id,
            week_start=first,
            week_end=last,
        )
        return reviewers.may_decide(item)

    expenses_mine = [
        e for e in expense_rows if may(e.engagement_id, *week_bounds(e.spent_on, schedule))
    ]
    today = org_today()  # milestones are decided by the engagement's manager today
    milestones_mine = [m for m in milestone_rows if may(m.engagement_id, today, today)]
    names = dict(
        db.session.execute(
            select(Freelancer.id, Freelancer.display_name).where(
                Freelancer.id.in_({e.freelancer_id for e in reviewers.engagements.values()})
            )
        ).all()
    )
    who = {eid: names.get(e.freelancer_id, "") for eid, e in reviewers.engagements.items()}
    return expenses_mine, milestones_mine, who


@bp.get("/review")
@login_required
def review():
    actor = current_actor()
    _require_reviewer_role(actor)
    rows = queries.review_queue(db.session, actor=actor, today=org_today(), with_budget=False)
    return render_template(
        "timesheets/review.html",
        rows=rows,
        titles=engagement_titles({r.sheet.engagement_id for r in rows}),
        adjustments=_pending_adjustments(actor),
        items=_pending_items(actor),
    )


@bp.get("/review/budgets")
@login_required
def review_budgets():
    """The budget used of the queue's engagements, which the queue page fills in after it
    shows (pricing every counted week of them takes longer than the queue itself)."""
    actor = current_actor()
    _require_reviewer_role(actor)
    used = queries.queue_budgets(db.session, actor=actor, today=org_today())
    return jsonify({str(engagement_id): percent for engagement_id, percent in used.items()})


def _sheet_labels(ids) -> dict[int, tuple[str, object, object]]:
    """Sheet id -> (freelancer, week start, week end), for the confirmation page."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(Timesheet.id, Freelancer.display_name, Timesheet.week_start, Timesheet.week_end)
        .join(Freelancer, Freelancer.id == Timesheet.freelancer_id)
        .where(Timesheet.id.in_(set(ids)))
    ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def _selected(values) -> list[str]:
    return [v for v in values if v][:1000]


@bp.route("/review/approve", methods=["GET", "POST"])
@login_required
def bulk_approve():
    """GET: what approving the selected sheets would do; POST: approve them."""
    actor = current_actor()
    _require_reviewer_role(actor)
    source = request.form if request.method == "POST" else request.args
    ids = _selected(source.getlist("ids"))
    if not ids:
        flash("Select the timesheets to approve first.", "warning")
        return redirect(url_for(".review"))
    try:
        if request.method == "GET":
            preview = services.preview_bulk_approval(db.session, actor=actor, timesheet_ids=ids)
        else:
            result = services.bulk_approve(db.session, actor=actor, timesheet_ids=ids)
    except InvalidInput as exc:
        db.session.rollback()
        flash(exc.detail, "danger")
        return redirect(url_for(".review"))
    if request.method == "GET":
        return render_template(
            "timesheets/bulk_approve.html",
            preview=preview,
            labels=_sheet_labels([*preview.timesheet_ids, *preview.skipped]),
        )
    db.session.commit()
    message = (
        f"Approved {len(result.approved)} timesheet{'s' if len(result.approved) != 1 else ''}."
    )
    flash(message, "success")
    if result.changed_meanwhile:
        flash(
            f"{len(result.changed_meanwhile)} had changed meanwhile (decided by someone else "
            "or withdrawn) and were left as they are.",
            "warning",
        )
    if result.not_allowed:
        flash(f"{len(result.not_allowed)} are not yours to decide and were left out.", "warning")
    return redirect(url_for(".review"))


@bp.post("/<int:timesheet_id>/approve")
@login_required
def approve(timesheet_id: int):
    services.approve_timesheet(db.session, actor=current_actor(), timesheet_id=timesheet_id)
    db.session.commit()
    flash("Timesheet approved.", "success")
    return redirect(url_for(".review"))


@bp.post("/<int:timesheet_id>/reject")
@login_required
def reject(timesheet_id: int):
    actor = current_actor()
    form = CommentForm()
    if form.validate():
        try:
            services.reject_timesheet(
                db.session, actor=actor, timesheet_id=timesheet_id, comment=form.comment.data
            )
        except InvalidInput as exc:
            db.session.rollback()
            form.comment.errors = [exc.detail]
        else:
            db.session.commit()
            flash("Timesheet sent back to the freelancer with your comment.", "success")
            return redirect(url_for(".review"))
    sheet = services.get_timesheet(db.session, actor=actor, timesheet_id=timesheet_id)
    engagement = services.engagement_of(db.session, sheet.engagement_id)
    return _render_sheet(actor, sheet, engagement, _cells(sheet, engagement), comment_form=form)


@bp.post("/adjustments/<int:adjustment_id>/decide")
@login_required
def decide_adjustment(adjustment_id: int):
    actor = current_actor()
    approve = request.form.get("decision") == "approve"
    return decide_then(
        lambda comment: services.decide_adjustment(
            db.session, actor=actor, adjustment_id=adjustment_id, approve=approve, comment=comment
        ),
        target=url_for(".review") + "#adjustments",
        message="Correction approved." if approve else "Correction rejected.",
    )

"""Requisition pages: the queue, the request form, and the approval chain."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from fms.errors import InvalidInput
from fms.extensions import db
from fms.forms import page_arg, status_of, submitted
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.workforce import forms, queries, requisitions, rules
from fms.workforce.forms import decimal_text, fill_choices, terms_fields

bp = Blueprint("requisitions", __name__, url_prefix="/requisitions")
HOURS = {"weekly_minutes": "weekly_hours"}
VIEWS = {"waiting": "Waiting for me", "mine": "My requests", "all": "All requisitions"}


@bp.get("")
@login_required
def index():
    actor = current_actor()
    require(actor, "requisitions.read")
    default = "waiting" if queries.waiting_for(db.session, actor) else "all"
    view = request.args.get("view", default)
    view = view if view in VIEWS else "all"
    state = request.args.get("state") or None
    page = max(request.args.get("page", 1, type=page_arg) or 1, 1)
    rows, total = queries.requisition_queue(
        db.session, actor=actor, view=view, state=state, page=page
    )
    return render_template(
        "workforce/requisitions.html",
        rows=rows,
        total=total,
        page=page,
        per_page=50,
        view=view,
        views=VIEWS,
        state=state,
        waiting=queries.waiting_for(db.session, actor),
    )


def _form_values(form) -> dict:
    values = terms_fields(form)
    values.update(
        description=form.description.data,
        rate_min=decimal_text(form.rate_min.data),
        rate_max=decimal_text(form.rate_max.data),
        budget=decimal_text(form.budget.data),
        skill_ids=form.skill_ids.data or [],
        justification=form.justification.data,
    )
    return values


def _budget_notice(form) -> None:
    """Warn (never refuse) when the budget is below rate × hours × weeks."""
    values = terms_fields(form)
    notice = rules.budget_notice(
        values["kind"],
        form.budget.data,
        form.rate_max.data,
        values["weekly_minutes"],
        values["start_date"],
        values["end_date"],
    )
    if notice:
        flash(notice, "warning")


def _form(**kwargs):
    form = forms.RequisitionForm(**kwargs)
    fill_choices(form, queries.choices(db.session, freelancers=False))
    return form


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    actor = current_actor()
    require(actor, "requisitions.create")
    form = _form()
    submit_now = bool(request.form.get("submit_now"))

    def create():
        req = requisitions.create_requisition(db.session, actor=actor, **_form_values(form))
        if submit_now:
            requisitions.submit_requisition(
                db.session,
                actor=actor,
                requisition_id=req.id,
                today=org_today(),
            )
        return req

    done = submitted(
        form,
        create,
        rename=HOURS,
        success="Submitted for approval." if submit_now else "Requisition saved.",
        then=lambda req: url_for(".show", requisition_id=req.id),
    )
    if done:
        _budget_notice(form)
        return done
    return render_template(
        "workforce/requisition_form.html", form=form, requisition=None
    ), status_of(form)


@bp.route("/<int:requisition_id>/edit", methods=["GET", "POST"])
@login_required
def edit(requisition_id: int):
    actor = current_actor()
    req = requisitions.get_requisition(db.session, actor=actor, requisition_id=requisition_id)
    form = _form(obj=req, one_time=False, weekly_hours=Decimal(req.weekly_minutes) / 60)
    done = submitted(
        form,
        lambda: requisitions.update_requisition(
            db.session, actor=actor, requisition_id=requisition_id, **_form_values(form)
        ),
        rename=HOURS,
        success="Requisition saved.",
        then=url_for(".show", requisition_id=requisition_id),
    )
    if done:
        _budget_notice(form)
        return done
    return render_template(
        "workforce/requisition_form.html", form=form, requisition=req
    ), status_of(form)


@bp.get("/<int:requisition_id>")
@login_required
def show(requisition_id: int):
    actor = current_actor()
    req = requisitions.get_requisition(db.session, actor=actor, requisition_id=requisition_id)
    steps = requisitions.steps(db.session, req, all_rounds=True)
    names = queries.user_names(
        db.session, [req.requester_user_id, *(s.decided_by_user_id for s in steps)]
    )
    engagement = queries.engagement_of_requisition(db.session, req.id)
    labels = queries.structure_labels(db.session, req)
    return render_template(
        "workforce/requisition.html",
        req=req,
        steps=steps,
        names=names,
        engagement=engagement,
        labels=labels,
        why_not=requisitions.can_decide(db.session, actor, req),
        decision=forms.DecisionForm(),
        skills=queries.skill_names(db.session, req.skill_ids),
    )


def _action(requisition_id: int, call, message: str):
    call()
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".show", requisition_id=requisition_id))


@bp.post("/<int:requisition_id>/submit")
@login_required
def submit(requisition_id: int):
    actor = current_actor()
    return _action(
        requisition_id,
        lambda: requisitions.submit_requisition(
            db.session,
            actor=actor,
            requisition_id=requisition_id,
            today=org_today(),
        ),
        "Submitted for approval.",
    )


@bp.post("/<int:requisition_id>/decide")
@login_required
def decide(requisition_id: int):
    actor = current_actor()
    form = forms.DecisionForm()
    approve = request.form.get("decision") == "approve"
    if not form.validate_on_submit():
        raise InvalidInput("The comment is too long.")
    return _action(
        requisition_id,
        lambda: requisitions.decide_step(
            db.session,
            actor=actor,
            requisition_id=requisition_id,
            approve=approve,
            comment=form.comment.data or "",
            today=org_today(),
        ),
        "Approved." if approve else "Rejected; the requester has been told why.",
    )


@bp.post("/<int:requisition_id>/reopen")
@login_required
def reopen(requisition_id: int):
    actor = current_actor()
    return _action(
        requisition_id,
        lambda: requisitions.reopen_requisition(
            db.session, actor=actor, requisition_id=requisition_id
        ),
        "Back to draft: change it and submit again.",
    )


@bp.post("/<int:requisition_id>/cancel")
@login_required
def cancel(requisition_id: int):
    actor = current_actor()
    return _action(
        requisition_id,
        lambda: requisitions.cancel_requisition(
            db.session, actor=actor, requisition_id=requisition_id
        ),
        "Requisition cancelled.",
    )

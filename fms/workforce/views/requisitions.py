"""Requisition pages: the queue, the request form, and the approval chain."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from fms.errors import InvalidInput, NotAllowed, RuleViolation
from fms.extensions import db
from fms.forms import id_arg, status_of, submitted
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.lists import export_response, list_page
from fms.saved_views import views_for
from fms.workforce import forms, queries, requisitions, rules
from fms.workforce.forms import decimal_text, fill_choices, terms_fields
from fms.workforce.lists import REQUISITIONS

bp = Blueprint("requisitions", __name__, url_prefix="/requisitions")
HOURS = {"weekly_minutes": "weekly_hours"}
VIEWS = {"waiting": "Waiting for me", "mine": "My requests", "all": "All requisitions"}


@bp.get("")
@login_required
def index():
    actor = current_actor()
    require(actor, "requisitions.read")
    waiting = queries.waiting_for(db.session, actor)
    page = list_page(REQUISITIONS, actor, defaults={"view": "waiting" if waiting else "all"})
    view = page.query.filters["view"]
    return render_template(
        "workforce/requisitions.html",
        lp=page,
        view=view,
        views_tabs=VIEWS,
        views=views_for(db.session, actor=actor, list_key=REQUISITIONS.key),
        waiting=waiting,
        bulk=view == "waiting" and bool(page.rows),
    )


@bp.get("/export.<fmt>")
@login_required
def index_export(fmt: str):
    actor = current_actor()
    return export_response(
        REQUISITIONS,
        fmt,
        actor=actor,
        context={"today": org_today()},
        defaults={"view": "all"},
    )


def _selected_ids(values) -> list[int]:
    ids = []
    for raw in values:
        try:
            ids.append(id_arg(raw))
        except ValueError:
            raise InvalidInput("Select requisitions from the list.") from None
    if not ids:
        raise InvalidInput("Select at least one requisition.")
    if len(ids) > requisitions.MAX_BULK:
        raise InvalidInput(f"Approve at most {requisitions.MAX_BULK} requisitions at once.")
    return sorted(set(ids))


@bp.route("/bulk-approve", methods=["GET", "POST"])
@login_required
def bulk_approve():
    """Approve the current step of several requisitions: a confirmation page lists them
    and says what will happen; the POST approves all of them or none."""
    actor = current_actor()
    source = request.form if request.method == "POST" else request.args
    ids = _selected_ids(source.getlist("ids"))
    rows = [requisitions.get_requisition(db.session, actor=actor, requisition_id=i) for i in ids]
    if request.method == "POST":
        try:
            requisitions.approve_current_steps(
                db.session,
                actor=actor,
                requisition_ids=ids,
                comment=request.form.get("comment") or "",
                today=org_today(),
            )
        except (InvalidInput, RuleViolation, NotAllowed) as exc:
            db.session.rollback()  # all or nothing
            flash(f"Nothing was approved: {exc}", "danger")
            return redirect(url_for(".index", view="waiting"))
        db.session.commit()
        flash(f"Approved the current step of {len(rows)} requisitions.", "success")
        return redirect(url_for(".index", view="waiting"))
    problems = {req.id: requisitions.can_decide(db.session, actor, req) for req in rows}
    return render_template("workforce/requisitions_bulk_approve.html", rows=rows, problems=problems)


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

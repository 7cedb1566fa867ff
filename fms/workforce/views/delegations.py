"""Delegations: hiring managers name a stand-in while they are away."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from fms.errors import RuleViolation
from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity.web_session import current_actor, org_today
from fms.workforce import delegations, forms, queries

bp = Blueprint("delegations", __name__, url_prefix="/delegations")


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    actor = current_actor()
    today = org_today()
    include_past = request.args.get("show") == "all"
    rows = delegations.list_delegations(
        db.session, actor=actor, today=today, include_past=include_past
    )
    form = forms.DelegationForm()
    may_choose_manager = actor.can("delegations.manage")
    if not may_choose_manager:
        del form.manager_user_id  # a manager delegates their own engagements
    if request.method == "GET":
        form.starts_on.data = form.starts_on.data or today
    done = submitted(
        form,
        lambda: delegations.create_delegation(
            db.session,
            actor=actor,
            today=today,
            delegate_user_id=form.delegate_user_id.data,
            manager_user_id=form.manager_user_id.data if may_choose_manager else None,
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            note=form.note.data or "",
        ),
        success="Stand-in named: they act on these engagements for the days you chose.",
        then=url_for(".index"),
    )
    if done:
        return done
    people = queries.user_names(
        db.session, [d.manager_user_id for d in rows] + [d.delegate_user_id for d in rows]
    )
    return render_template(
        "workforce/delegations.html",
        rows=rows,
        people=people,
        form=form,
        today=today,
        include_past=include_past,
        may_choose_manager=may_choose_manager,
    ), status_of(form)


@bp.post("/<int:delegation_id>/revoke")
@login_required
def revoke(delegation_id: int):
    try:
        delegations.revoke_delegation(
            db.session, actor=current_actor(), delegation_id=delegation_id
        )
    except RuleViolation as exc:
        db.session.rollback()
        flash(exc.detail, "warning")
        return redirect(url_for(".index"))
    db.session.commit()
    flash("Delegation ended.", "success")
    return redirect(url_for(".index"))

"""Engagement pages: the list, the direct draft form, and one engagement's whole life."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from fms.errors import InvalidInput, NotAllowed
from fms.extensions import db
from fms.forms import creates_once, id_arg, status_of, submitted
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.lists import export_response, list_page
from fms.saved_views import views_for
from fms.workforce import engagements, forms, queries
from fms.workforce.forms import decimal_text, fill_choices, terms_fields
from fms.workforce.lists import ENGAGEMENTS

bp = Blueprint("engagements", __name__, url_prefix="/engagements")


@bp.get("")
@login_required
def index():
    actor = current_actor()
    require(actor, "engagements.read")
    page = list_page(ENGAGEMENTS, actor)
    return render_template(
        "workforce/engagements.html",
        lp=page,
        views=views_for(db.session, actor=actor, list_key=ENGAGEMENTS.key),
        choices={"supplier_id": queries.supplier_choices(db.session)},
    )


@bp.get("/export.<fmt>")
@login_required
def index_export(fmt: str):
    return export_response(ENGAGEMENTS, fmt, actor=current_actor(), context={"today": org_today()})


@bp.get("/mine")
@login_required
def mine():
    """The freelancer portal: my engagements until their end date, with what is left to do."""
    actor = current_actor()
    rows, total = queries.engagement_list(
        db.session,
        on=org_today(),
        freelancer_user_id=actor.user_id,
        per_page=200,
    )
    todo = queries.open_steps(db.session, [r.engagement.id for r in rows])
    return render_template("workforce/my_engagements.html", rows=rows, todo=todo)


def _engagement_form(**kwargs):
    form = forms.EngagementForm(**kwargs)
    fill_choices(form, queries.choices(db.session))  # the kind; pickers look up the rest
    return form


def _drafted(engagement) -> str:
    """The success message, naming the supplier when it came from the freelancer."""
    message = "Engagement drafted. Submit it for approval when it is complete."
    party = queries.engagement_party(db.session, engagement)
    if engagement.freelancer_id and party.get("supplier") is not None:
        return f"{message} Supplier: {party['supplier'].name}."
    return message


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    actor = current_actor()
    require(actor, "engagements.manage")
    form = _engagement_form()

    def create():
        values = terms_fields(form) | {
            "rate": decimal_text(form.rate.data),
            "overtime_rate": decimal_text(form.overtime_rate.data),
            "budget_cap": decimal_text(form.budget_cap.data),
            "po_number": form.po_number.data,
            "hiring_manager_user_id": form.hiring_manager_user_id.data,
            "freelancer_id": form.freelancer_id.data or None,
            "supplier_id": form.supplier_id.data or None,
            "confirm_supplier": form.confirm_supplier.data,
        }
        return engagements.create_engagement(db.session, actor=actor, **values)

    done = submitted(
        form,
        create,
        rename={"weekly_minutes": "weekly_hours"},
        success=_drafted,
        then=lambda engagement: url_for(".show", engagement_id=engagement.id),
    )
    if done:
        return done
    ask_confirm = bool(form.supplier_id.errors) or form.confirm_supplier.data
    return render_template(
        "workforce/engagement_form.html", form=form, ask_confirm=ask_confirm
    ), status_of(form)


@bp.get("/<int:engagement_id>")
@login_required
def show(engagement_id: int):
    actor = current_actor()
    engagement = engagements.get_engagement(db.session, actor=actor, engagement_id=engagement_id)
    today = org_today()
    history = engagements.terms_history(db.session, engagement.id)
    current = engagements.terms_on(db.session, engagement.id, today)
    internal = actor.can("engagements.read")  # the freelancer sees terms, not internals
    changes = engagements.amendments(db.session, engagement.id) if internal else []
    chains = engagements.amendment_steps(db.session, [a.id for a in changes])
    # for each pending amendment: why this person may not decide its current step (or None)
    blocked = {
        a.id: engagements.amendment_decision_problem(db.session, actor, a)
        for a in changes
        if a.state == "pending"
    }
    steps = engagements.onboarding_steps(db.session, engagement.id)
    people = queries.user_names(
        db.session,
        [t.hiring_manager_user_id for t in history]
        + [a.requested_by_user_id for a in changes]
        + [a.decided_by_user_id for a in changes]
        + [a.new_hiring_manager_user_id for a in changes]
        + [step.decided_by_user_id for steps in chains.values() for step in steps]
        + [s.done_by_user_id for s in steps],
    )
    options = queries.choices(db.session) if actor.is_staff else {}
    amendment_form = forms.AmendmentForm()
    onboard_form = forms.OnboardForm(freelancer_id=engagement.freelancer_id)
    if options:
        fill_choices(
            amendment_form,
            {"new_hiring_manager_user_id": options["hiring_manager_user_id"]},
            blank={"new_hiring_manager_user_id": "—"},
        )
    trail = trail_names = None
    if actor.can("audit.read"):  # the engagement's history, its checklist and amendments too
        from fms.audit import queries as audit_queries

        trail = audit_queries.history(db.session, "engagement", engagement.id)
        trail_names = audit_queries.actor_names(db.session, {t.actor_user_id for t in trail})
    return render_template(
        "workforce/engagement.html",
        trail=trail,
        trail_names=trail_names,
        engagement=engagement,
        current=current,
        history=history,
        changes=changes,
        chains=chains,
        blocked={k: (v.detail if v else None) for k, v in blocked.items()},
        steps=steps,
        people=people,
        today=today,
        party=queries.engagement_party(db.session, engagement),
        labels=queries.structure_labels(db.session, current) if current else {},
        review=queries.review_of(db.session, engagement.id) if internal else None,
        own=not actor.is_staff,
        notice_days=engagements.notice_period_days(db.session),
        amendment_form=amendment_form,
        onboard_form=onboard_form,
        notice_form=forms.NoticeForm(),
        review_form=forms.ReviewForm(),
        decision_form=forms.DecisionForm(),
        reason_form=forms.ReasonForm(),
    )


def _page(engagement_id: int, **_) -> str:
    """The engagement's page; 404 for an engagement this person may not see."""
    engagements.get_engagement(db.session, actor=current_actor(), engagement_id=engagement_id)
    return url_for(".show", engagement_id=engagement_id)


def _done(engagement_id: int, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".show", engagement_id=engagement_id))


def _invalid(engagement_id: int, exc: InvalidInput):
    """A short action form failed: say what, on the engagement page."""
    db.session.rollback()
    details = "; ".join(f"{k.replace('_', ' ')}: {' '.join(v)}" for k, v in exc.errors.items())
    flash(f"{exc.detail} {details}".strip(), "danger")
    return redirect(url_for(".show", engagement_id=engagement_id))


@bp.post("/<int:engagement_id>/submit")
@login_required
def submit(engagement_id: int):
    engagements.submit_engagement(
        db.session,
        actor=current_actor(),
        engagement_id=engagement_id,
        today=org_today(),
    )
    return _done(engagement_id, "Submitted for approval.")


@bp.post("/<int:engagement_id>/decide")
@login_required
def decide(engagement_id: int):
    approve = request.form.get("decision") == "approve"
    try:
        engagements.decide_engagement(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            approve=approve,
            comment=request.form.get("comment", "")[:2000],
        )
    except InvalidInput as exc:
        return _invalid(engagement_id, exc)
    return _done(engagement_id, "Approved." if approve else "Rejected.")


@bp.post("/<int:engagement_id>/onboard")
@login_required
def onboard(engagement_id: int):
    actor = current_actor()
    form = forms.OnboardForm()
    if not form.validate():
        return _invalid(engagement_id, InvalidInput("Check the freelancer.", errors=form.errors))
    before = engagements.get_engagement(db.session, actor=actor, engagement_id=engagement_id)
    had_supplier = before.supplier_id
    try:
        engagement = engagements.start_onboarding(
            db.session,
            actor=actor,
            engagement_id=engagement_id,
            freelancer_id=form.freelancer_id.data,
            confirm_supplier=form.confirm_supplier.data,
        )
    except InvalidInput as exc:
        return _invalid(engagement_id, exc)
    message = "Onboarding started."
    if had_supplier is None and engagement.supplier_id is not None:
        supplier = queries.engagement_party(db.session, engagement)["supplier"]
        message += f" Supplier set to {supplier.name}, the freelancer's supplier."
    return _done(engagement_id, message)


@bp.post("/<int:engagement_id>/steps/<int:step_id>/complete")
@login_required
def complete_step(engagement_id: int, step_id: int):
    engagements.complete_step(
        db.session, actor=current_actor(), step_id=step_id, engagement_id=engagement_id
    )
    return _done(engagement_id, "Step done.")


@bp.post("/<int:engagement_id>/activate")
@login_required
def activate(engagement_id: int):
    engagements.activate(db.session, actor=current_actor(), engagement_id=engagement_id)
    return _done(engagement_id, "The engagement is active.")


@bp.post("/<int:engagement_id>/cancel")
@login_required
def cancel(engagement_id: int):
    try:
        engagements.cancel(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            reason=request.form.get("reason", "")[:2000],
        )
    except InvalidInput as exc:
        return _invalid(engagement_id, exc)
    return _done(engagement_id, "Engagement cancelled.")


@bp.post("/<int:engagement_id>/notice")
@login_required
def notice(engagement_id: int):
    try:
        engagements.give_notice(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            end_date=request.form.get("end_date"),
            reason=request.form.get("reason", "")[:2000],
            today=org_today(),
        )
    except InvalidInput as exc:
        return _invalid(engagement_id, exc)
    return _done(engagement_id, "Notice given; access ends after the last working day.")


@bp.post("/<int:engagement_id>/review")
@login_required
@creates_once(_page)
def review(engagement_id: int):
    try:
        engagements.write_review(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            rating=request.form.get("rating"),
            comment=request.form.get("comment", ""),
            today=org_today(),
        )
    except InvalidInput as exc:
        return _invalid(engagement_id, exc)
    return _done(engagement_id, "Review saved; it shows on the freelancer's profile.")


@bp.post("/<int:engagement_id>/amendments")
@login_required
@creates_once(_page)
def request_amendment(engagement_id: int):
    form = request.form
    try:
        engagements.request_amendment(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            kind=form.get("kind"),
            effective_from=form.get("effective_from"),
            reason=form.get("reason", "")[:2000],
            new_rate=form.get("new_rate") or None,
            new_end_date=form.get("new_end_date") or None,
            new_budget_cap=form.get("new_budget_cap") or None,
            new_hiring_manager_user_id=form.get("new_hiring_manager_user_id", type=id_arg) or None,
        )
    except InvalidInput as exc:
        return _invalid(engagement_id, exc)
    return _done(engagement_id, "Amendment proposed; it applies once its approval chain agrees.")


@bp.post("/<int:engagement_id>/amendments/<int:amendment_id>/decide")
@login_required
def decide_amendment(engagement_id: int, amendment_id: int):
    approve = request.form.get("decision") == "approve"
    try:
        amendment = engagements.decide_amendment(
            db.session,
            actor=current_actor(),
            amendment_id=amendment_id,
            approve=approve,
            comment=request.form.get("comment", "")[:2000],
        )
    except InvalidInput as exc:
        return _invalid(engagement_id, exc)
    if amendment.engagement_id != engagement_id:
        raise NotAllowed("That amendment belongs to another engagement.")
    if not approve:
        return _done(engagement_id, "Amendment rejected.")
    if amendment.state == "pending":
        return _done(engagement_id, "Step approved; the amendment waits for the next approver.")
    return _done(engagement_id, "Amendment approved; the change applies from its date.")


@bp.post("/<int:engagement_id>/invite")
@login_required
@creates_once(_page)
def invite(engagement_id: int):
    """Procurement sends the freelancer a single-use link; the link is shown once."""
    from flask import current_app

    try:
        _, token = engagements.invite_freelancer(
            db.session,
            actor=current_actor(),
            engagement_id=engagement_id,
            email=request.form.get("email", "")[:254],
            allow_other_email=bool(request.form.get("allow_other_email")),
        )
    except InvalidInput as exc:
        return _invalid(engagement_id, exc)
    db.session.commit()
    link = current_app.config["FMS_BASE_URL"].rstrip("/") + url_for("sso.invitation", token=token)
    flash(
        f"Invitation created. Send the freelancer this link (it works once, for 7 days): {link}",
        "success",
    )
    return redirect(url_for(".show", engagement_id=engagement_id))

"""Org structure pages (org admins) and the freelancer directory (staff)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from fms.errors import InvalidInput
from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity.permissions import require
from fms.identity.web_session import current_actor, org_today
from fms.lists import export_response, list_page, parse_query, run_list
from fms.saved_views import views_for
from fms.workforce import forms, queries, rules, services
from fms.workforce.lists import COST_CENTRES, DEPARTMENTS, FREELANCERS, LOCATIONS
from fms.workforce.models import PerformanceReview

bp = Blueprint("workforce", __name__)


@bp.app_context_processor
def workforce_words():
    return {
        "engagement_kinds": rules.ENGAGEMENT_KINDS,
        "amendment_kinds": rules.AMENDMENT_KINDS,
        "rate_units": rules.RATE_UNITS,
    }


_SECTIONS = [
    ("department", "Departments", "Teams that request and manage freelancers."),
    ("cost_centre", "Cost centres", "Where freelancer spend is booked."),
    ("location", "Locations", "Offices and sites freelancers work for."),
]
_SINGULAR = {"department": "department", "cost_centre": "cost centre", "location": "location"}
UNIT_LISTS = {"department": DEPARTMENTS, "cost_centre": COST_CENTRES, "location": LOCATIONS}


def _form_fields(kind: str, form) -> dict:
    values = {"code": form.code.data, "name": form.name.data}
    if kind == "location":
        values.update(country=form.country.data, city=form.city.data)
    return values


@bp.route("/admin/structure", methods=["GET", "POST"])
@login_required
def structure():
    actor = current_actor()
    require(actor, "structure.read")
    forms_by_kind = {kind: forms.unit_form(kind, prefix=kind) for kind, _, _ in _SECTIONS}
    status = 200
    if request.method == "POST":
        require(actor, "structure.manage")
        kind = request.form.get("kind", "")
        form = forms_by_kind.get(kind)
        if form is None:
            raise InvalidInput("Unknown kind of unit.")
        done = submitted(
            form,
            lambda: services.create_unit(
                db.session, actor=actor, kind=kind, **_form_fields(kind, form)
            ),
            success=f"{(form.name.data or '').strip()} was added.",
            then=url_for("workforce.structure") + f"#{kind}",
        )
        if done:
            return done
        status = 422
    sections = [
        {
            "kind": kind,
            "title": title,
            "hint": hint,
            "singular": _SINGULAR[kind],
            "lp": _unit_list(actor, kind),
            "views": views_for(db.session, actor=actor, list_key=UNIT_LISTS[kind].key),
            "form": forms_by_kind[kind],
        }
        for kind, title, hint in _SECTIONS
    ]
    return render_template("workforce/structure.html", sections=sections), status


def _unit_list(actor, kind: str):
    """One of the page's three lists: the one `?unit=` names takes the URL's sort, filters
    and page; the others show their first page."""
    spec = UNIT_LISTS[kind]
    if request.args.get("unit") == spec.key:
        return list_page(spec, actor, context={})
    return run_list(db.session, parse_query(spec, {}), actor=actor, context={})


@bp.get("/admin/structure/export.<fmt>")
@login_required
def structure_export(fmt: str):
    by_key = {spec.key: spec for spec in UNIT_LISTS.values()}
    spec = by_key.get(request.args.get("unit") or "", UNIT_LISTS["department"])
    return export_response(spec, fmt, actor=current_actor(), context={})


def _edit_unit(kind: str, unit_id: int):
    actor = current_actor()
    unit = services.get_unit(db.session, actor=actor, kind=kind, unit_id=unit_id)
    form = forms.unit_form(kind, obj=unit, one_time=False)
    if request.method == "POST":
        require(actor, "structure.manage")
        done = submitted(
            form,
            lambda: services.update_unit(
                db.session,
                actor=actor,
                kind=kind,
                unit_id=unit_id,
                is_active=form.is_active.data,
                **_form_fields(kind, form),
            ),
            success="Saved.",
            then=url_for("workforce.structure") + f"#{kind}",
        )
        if done:
            return done
    label = services.STRUCTURE_LABELS[kind]
    return render_template("workforce/unit.html", unit=unit, form=form, label=label), status_of(
        form
    )


@bp.route("/admin/departments/<int:department_id>", methods=["GET", "POST"])
@login_required
def department(department_id: int):
    return _edit_unit("department", department_id)


@bp.route("/admin/cost-centres/<int:cost_centre_id>", methods=["GET", "POST"])
@login_required
def cost_centre(cost_centre_id: int):
    return _edit_unit("cost_centre", cost_centre_id)


@bp.route("/admin/locations/<int:location_id>", methods=["GET", "POST"])
@login_required
def location(location_id: int):
    return _edit_unit("location", location_id)


@bp.get("/freelancers")
@login_required
def freelancers():
    """The directory of freelancers known to the organization, and talent search, with each
    one's average rating and number of reviews (aggregated in SQL)."""
    actor = current_actor()
    require(actor, "freelancers.read")
    page = list_page(FREELANCERS, actor)
    return render_template(
        "workforce/freelancers.html",
        lp=page,
        views=views_for(db.session, actor=actor, list_key=FREELANCERS.key),
        choices={
            "country": [(c, c) for c in services.freelancer_countries(db.session, actor=actor)],
            "skill_id": [
                (str(s.id), s.name) for s in services.list_skills(db.session, actor=actor)
            ],
        },
    )


@bp.get("/freelancers/export.<fmt>")
@login_required
def freelancers_export(fmt: str):
    return export_response(FREELANCERS, fmt, actor=current_actor(), context={"today": org_today()})


@bp.route("/freelancers/<int:freelancer_id>", methods=["GET", "POST"])
@login_required
def freelancer(freelancer_id: int):
    actor = current_actor()
    profile = services.get_freelancer(db.session, actor=actor, freelancer_id=freelancer_id)
    skill_form = forms.FreelancerSkillForm()
    skill_form.skill_id.choices = [
        (s.id, s.name) for s in services.list_skills(db.session, actor=actor)
    ]
    if request.method == "POST":
        require(actor, "freelancers.manage")
        if skill_form.validate_on_submit():
            services.set_freelancer_skill(
                db.session,
                actor=actor,
                freelancer_id=freelancer_id,
                skill_id=skill_form.skill_id.data,
                level=skill_form.level.data,
            )
            db.session.commit()
            flash("Skill saved.", "success")
            return redirect(url_for("workforce.freelancer", freelancer_id=freelancer_id))
    skills = services.freelancer_skills(db.session, profile.id)
    reviews = db.session.scalars(
        select(PerformanceReview)
        .where(PerformanceReview.freelancer_id == profile.id)
        .order_by(PerformanceReview.created_at.desc())
    ).all()
    history = queries.freelancer_engagements(db.session, profile.id)
    names = queries.user_names(db.session, [r.reviewer_user_id for r in reviews])
    return render_template(
        "workforce/freelancer.html",
        freelancer=profile,
        skills=skills,
        reviews=reviews,
        history=history,
        names=names,
        skill_form=skill_form,
        show_bank=services.may_see_bank_details(actor, profile),
    )


def _profile_form(profile=None, **kwargs):
    form = forms.FreelancerProfileForm(obj=profile, **kwargs)
    actor = current_actor()
    if not services.may_see_bank_details(actor, profile):
        for name in services.BANK_FIELDS:
            delattr(form, name)  # neither shown nor sent: the service would refuse them
    suppliers = (
        services.list_suppliers(db.session, actor=actor) if actor.can("suppliers.read") else []
    )
    form.supplier_id.choices = [(0, "Direct (no supplier)")] + [(s.id, s.name) for s in suppliers]
    if not actor.can("freelancers.manage"):
        del form.supplier_id  # the freelancer does not choose their supplier
    return form


def _profile_values(form) -> dict:
    fields = (getattr(form, n, None) for n in services.PROFILE_FIELDS)
    return {f.name: f.data for f in fields if f is not None}


@bp.route("/freelancers/new", methods=["GET", "POST"])
@login_required
def new_freelancer():
    actor = current_actor()
    require(actor, "freelancers.manage")
    form = _profile_form()
    done = submitted(
        form,
        lambda: services.create_freelancer(db.session, actor=actor, **_profile_values(form)),
        success="Freelancer added.",
        then=lambda profile: url_for("workforce.freelancer", freelancer_id=profile.id),
    )
    if done:
        return done
    return render_template("workforce/freelancer_form.html", form=form, profile=None), status_of(
        form
    )


@bp.route("/freelancers/<int:freelancer_id>/edit", methods=["GET", "POST"])
@login_required
def edit_freelancer(freelancer_id: int):
    actor = current_actor()
    require(actor, "freelancers.manage")
    profile = services.get_freelancer(db.session, actor=actor, freelancer_id=freelancer_id)
    return _edit_profile(profile, url_for("workforce.freelancer", freelancer_id=freelancer_id))


@bp.route("/my/profile", methods=["GET", "POST"])
@login_required
def my_profile():
    """The freelancer keeps their own profile, tax id and payment details current."""
    actor = current_actor()
    profile = services.own_profile(db.session, actor=actor)
    return _edit_profile(profile, url_for("workforce.my_profile"))


def _edit_profile(profile, done_url: str):
    actor = current_actor()
    form = _profile_form(profile, one_time=False)
    if request.method == "GET" and form.supplier_id is not None:
        form.supplier_id.data = profile.supplier_id or 0
    done = submitted(
        form,
        lambda: services.update_freelancer(
            db.session, actor=actor, freelancer_id=profile.id, **_profile_values(form)
        ),
        success="Profile saved.",
        then=done_url,
    )
    if done:
        return done
    return render_template("workforce/freelancer_form.html", form=form, profile=profile), status_of(
        form
    )


# the rooms of the workforce pages, each its own blueprint nested under this one
from fms.workforce.views import (  # noqa: E402
    catalog,
    delegations,
    engagements,
    headcount,
    requisitions,
)

for _child in (requisitions.bp, engagements.bp, headcount.bp, catalog.bp, delegations.bp):
    bp.register_blueprint(_child)

"""Suppliers, the skill taxonomy, exchange rates and the organization's workforce settings."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from fms.errors import InvalidInput, RuleViolation
from fms.extensions import db
from fms.forms import apply_errors, status_of, submitted
from fms.identity.permissions import APPROVER_ROLES, require
from fms.identity.web_session import current_actor, org_today
from fms.lists import export_response, list_page
from fms.saved_views import views_for
from fms.workforce import forms, queries, services
from fms.workforce.forms import decimal_text
from fms.workforce.lists import EXCHANGE_RATES, SKILLS, SUPPLIERS

bp = Blueprint("catalog", __name__)


@bp.route("/suppliers", methods=["GET", "POST"])
@login_required
def suppliers():
    actor = current_actor()
    form = forms.SupplierForm()
    if request.method == "POST":
        require(actor, "suppliers.manage")
        done = submitted(
            form,
            lambda: services.create_supplier(
                db.session,
                actor=actor,
                name=form.name.data,
                country=form.country.data,
                legal_name=form.legal_name.data,
                tax_id=form.tax_id.data,
            ),
            success="Supplier added.",
            then=lambda supplier: url_for(".supplier", supplier_id=supplier.id),
        )
        if done:
            return done
    require(actor, "suppliers.read")
    return render_template(
        "workforce/suppliers.html",
        lp=list_page(SUPPLIERS, actor),
        views=views_for(db.session, actor=actor, list_key=SUPPLIERS.key),
        form=form,
    ), status_of(form)


@bp.get("/suppliers/export.<fmt>")
@login_required
def suppliers_export(fmt: str):
    return export_response(SUPPLIERS, fmt, actor=current_actor(), context={"today": org_today()})


@bp.route("/suppliers/<int:supplier_id>", methods=["GET", "POST"])
@login_required
def supplier(supplier_id: int):
    actor = current_actor()
    row = services.get_supplier(db.session, actor=actor, supplier_id=supplier_id)
    form = forms.ContactForm()
    if request.method == "POST":
        require(actor, "suppliers.manage")
        done = submitted(
            form,
            lambda: services.add_supplier_contact(
                db.session,
                actor=actor,
                supplier_id=supplier_id,
                name=form.name.data,
                email=form.email.data,
                phone=form.phone.data,
                role=form.role.data,
            ),
            success="Contact added.",
            then=url_for(".supplier", supplier_id=supplier_id),
        )
        if done:
            return done
    contacts = services.supplier_contacts(db.session, supplier_id)
    return render_template(
        "workforce/supplier.html",
        supplier=services.supplier_fields(actor, row),
        contacts=contacts,
        form=form,
    ), status_of(form)


@bp.route("/exchange-rates", methods=["GET", "POST"])
@login_required
def exchange_rates():
    actor = current_actor()
    form = forms.ExchangeRateForm()
    if request.method == "POST":
        require(actor, "exchange_rates.manage")
        done = submitted(
            form,
            lambda: services.add_exchange_rate(
                db.session,
                actor=actor,
                currency=(form.currency.data or "").upper(),
                rate=decimal_text(form.rate.data),
                effective_from=form.effective_from.data,
            ),
            success="Exchange rate saved.",
            then=url_for(".exchange_rates"),
        )
        if done:
            return done
    require(actor, "exchange_rates.read")
    return render_template(
        "workforce/exchange_rates.html",
        lp=list_page(EXCHANGE_RATES, actor),
        views=views_for(db.session, actor=actor, list_key=EXCHANGE_RATES.key),
        form=form,
    ), status_of(form)


@bp.get("/exchange-rates/export.<fmt>")
@login_required
def exchange_rates_export(fmt: str):
    return export_response(
        EXCHANGE_RATES, fmt, actor=current_actor(), context={"today": org_today()}
    )


@bp.route("/admin/workforce", methods=["GET", "POST"])
@login_required
def settings():
    actor = current_actor()
    require(actor, "structure.read")
    current = queries.workforce_settings(db.session)
    settings_form = forms.SettingsForm(obj=current, prefix="settings")
    skill_form = forms.SkillForm(prefix="skill")
    step_form = forms.TemplateStepForm(prefix="step")
    section = request.form.get("section")
    if request.method == "POST" and section in ("skill", "step"):
        # these two create records: through `submitted`, which consumes their one-time token
        if section == "skill":
            form, action = (
                skill_form,
                lambda: services.create_skill(
                    db.session,
                    actor=actor,
                    name=skill_form.name.data,
                    category=skill_form.category.data,
                ),
            )
        else:
            form, action = (
                step_form,
                lambda: services.add_onboarding_template_step(
                    db.session, actor=actor, title=step_form.title.data, kind=step_form.kind.data
                ),
            )
        done = submitted(form, action, success="Saved.", then=url_for(".settings") + f"#{section}")
        if done:
            return done
    elif request.method == "POST":
        try:
            if section == "settings" and settings_form.validate_on_submit():
                services.update_settings(
                    db.session,
                    actor=actor,
                    notice_period_days=settings_form.notice_period_days.data,
                    trial_max_days=settings_form.trial_max_days.data,
                    trial_max_budget=decimal_text(settings_form.trial_max_budget.data),
                )
            elif section == "chain":
                services.set_approval_chain(db.session, actor=actor, steps=_chain_rows())
            else:
                raise InvalidInput("Check the highlighted fields.")
        except (InvalidInput, RuleViolation) as exc:
            db.session.rollback()
            apply_errors(settings_form, exc)
        else:
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for(".settings") + f"#{section}")
    return render_template(
        "workforce/settings.html",
        settings_form=settings_form,
        skill_form=skill_form,
        step_form=step_form,
        chain=queries.approval_rules(db.session),
        approver_roles=APPROVER_ROLES,
        lp=list_page(SKILLS, actor),
        views=views_for(db.session, actor=actor, list_key=SKILLS.key),
        template=services.onboarding_template(db.session),
    ), status_of(settings_form, skill_form, step_form)


@bp.get("/admin/workforce/skills/export.<fmt>")
@login_required
def settings_export(fmt: str):
    return export_response(SKILLS, fmt, actor=current_actor(), context={"today": org_today()})


def _chain_rows() -> list[dict]:
    roles = request.form.getlist("role")
    minimums = request.form.getlist("min_budget")
    rows = []
    for role, minimum in zip(roles, minimums, strict=False):
        if role or minimum:
            rows.append({"role": role, "min_budget": minimum})
    return rows

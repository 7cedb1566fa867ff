"""Billing settings: the billing period and the issuing entity, the client's bill-to
entities, which cost centre is billed to which, and VAT rates per country and category."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from fms.extensions import db
from fms.forms import status_of, submitted
from fms.identity.permissions import require
from fms.identity.web_session import current_actor
from fms.invoicing import settings as billing
from fms.invoicing.forms import (
    CATEGORY_LABELS,
    BillingSettingsForm,
    BillToEntityForm,
    CostCentreForm,
    EInvoiceForm,
    ServiceFeeForm,
    TaxComponentForm,
    VatRateForm,
)
from fms.invoicing.models import BillToEntity, CostCentreBilling, VatRate
from fms.invoicing.views import bp
from fms.workforce.models import CostCentre

SETTING_FIELDS = (
    "billing_period",
    "issuer_legal_name",
    "issuer_address",
    "issuer_country",
    "issuer_vat_id",
    "issuer_iban",
    "issuer_bic",
    "issuer_bank_text",
    "payment_terms_days",
    "invoice_prefix",
    "credit_note_prefix",
    "yearly_reset",
    "four_eyes",
)


def _page(
    *,
    settings_form=None,
    entity_form=None,
    centre_form=None,
    rate_form=None,
    logo_error=None,
    einvoice_form=None,
    component_form=None,
    fee_form=None,
):
    actor = current_actor()
    require(actor, "invoicing.manage")
    session = db.session
    row = billing.billing_settings(session)
    entities = session.scalars(select(BillToEntity).order_by(BillToEntity.name)).all()
    centres = session.scalars(
        select(CostCentre).where(CostCentre.is_active.is_(True)).order_by(CostCentre.code)
    ).all()
    billed = dict(
        session.execute(
            select(CostCentreBilling.cost_centre_id, CostCentreBilling.bill_to_entity_id)
        ).all()
    )
    centre_form = centre_form or CostCentreForm()
    centre_form.cost_centre_id.choices = [(str(c.id), f"{c.code} · {c.name}") for c in centres]
    centre_form.bill_to_entity_id.choices = [(str(e.id), e.name) for e in entities]
    taxes = _taxes_and_fees(session, component_form, fee_form)
    forms = (
        settings_form,
        entity_form,
        centre_form,
        rate_form,
        einvoice_form,
        component_form,
        fee_form,
    )
    return render_template(
        "invoicing/settings.html",
        settings_form=settings_form or BillingSettingsForm(obj=row),
        entity_form=entity_form or BillToEntityForm(),
        centre_form=centre_form,
        rate_form=rate_form or VatRateForm(),
        entities=entities,
        entity_names={e.id: e.name for e in entities},
        centres=centres,
        billed=billed,
        rates=session.scalars(
            select(VatRate).order_by(VatRate.country, VatRate.category, VatRate.effective_from)
        ).all(),
        categories=CATEGORY_LABELS,
        has_logo=row.logo_file_id is not None,
        logo_error=logo_error,
        einvoice_form=einvoice_form or EInvoiceForm(obj=row),
        einvoice_note=billing.EINVOICE_CURRENCY_NOTE,
        **taxes,
    ), 422 if logo_error else status_of(*(f for f in forms if f is not None))


@bp.get("/settings")
@login_required
def settings():
    return _page()


@bp.post("/settings")
@login_required
def save_settings():
    form = BillingSettingsForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: billing.update_billing_settings(
            db.session,
            actor=actor,
            **{name: getattr(form, name).data for name in SETTING_FIELDS},
        ),
        success="Billing settings saved. Invoices already issued keep the details they show.",
        then=url_for(".settings"),
    )
    return done or _page(settings_form=form)


@bp.post("/settings/einvoice")
@login_required
def save_einvoice():
    form = EInvoiceForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: billing.set_einvoice(
            db.session, actor=actor, enabled=bool(form.einvoice_enabled.data)
        ),
        success=lambda row: (
            "E-invoices on: invoices issued from now on are Factur-X PDF/A-3 with their XML."
            if row.einvoice_enabled
            else "E-invoices off: invoices issued from now on are plain PDFs."
        ),
        then=url_for(".settings") + "#einvoice",
    )
    return done or _page(einvoice_form=form)


@bp.post("/settings/logo")
@login_required
def upload_logo():
    from flask import flash, redirect, request

    from fms.errors import InvalidInput

    actor = current_actor()
    try:
        billing.set_logo(db.session, actor=actor, upload=request.files.get("logo"))
    except InvalidInput as exc:
        db.session.rollback()
        message = next(iter(exc.errors.get("logo", [])), exc.detail)
        return _page(logo_error=message)
    db.session.commit()
    flash("Logo saved: invoices issued from now on print it.", "success")
    return redirect(url_for(".settings"))


@bp.get("/settings/logo")
@login_required
def logo():
    from fms import storage
    from fms.errors import NotFound

    require(current_actor(), "invoicing.manage")
    file_id = billing.billing_settings(db.session).logo_file_id
    if not file_id:
        raise NotFound("No logo yet.")
    return storage.send_stored(storage.get_file(db.session, file_id), as_attachment=False)


@bp.post("/settings/bill-to")
@login_required
def add_bill_to():
    form = BillToEntityForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: billing.add_bill_to_entity(
            db.session,
            actor=actor,
            name=form.name.data,
            country=form.country.data,
            address=form.address.data or "",
            vat_id=form.vat_id.data,
            tax_currency=form.tax_currency.data,
            po_required=form.po_required.data,
            default_po=form.default_po.data,
            tax_category=form.tax_category.data or None,
            region=form.region.data,
        ),
        success=lambda e: f"{e.name} added. Assign the cost centres it pays for below.",
        then=url_for(".settings") + "#cost-centres",
    )
    return done or _page(entity_form=form)


@bp.route("/settings/bill-to/<int:bill_to_entity_id>", methods=["GET", "POST"])
@login_required
def bill_to_entity(bill_to_entity_id: int):
    from flask import render_template as render

    from fms.tenancy import get_in_org

    actor = current_actor()
    require(actor, "invoicing.manage")
    row = get_in_org(db.session, BillToEntity, bill_to_entity_id, what="bill-to entity")
    form = BillToEntityForm(one_time=False, obj=row if request.method == "GET" else None)
    if request.method == "GET":
        form.tax_category.data = row.tax_category or ""
    done = submitted(
        form,
        lambda: billing.update_bill_to_entity(
            db.session,
            actor=actor,
            bill_to_entity_id=row.id,
            name=form.name.data,
            country=form.country.data,
            address=form.address.data or "",
            vat_id=form.vat_id.data,
            tax_currency=form.tax_currency.data,
            po_required=form.po_required.data,
            default_po=form.default_po.data,
            tax_category=form.tax_category.data or None,
            region=form.region.data,
        ),
        success="Bill-to entity saved; drafts and the next close use it.",
        then=url_for(".settings"),
    )
    if done:
        return done
    return render("invoicing/bill_to_entity.html", row=row, form=form), status_of(form)


@bp.post("/settings/cost-centres")
@login_required
def assign_cost_centre():
    form = CostCentreForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: billing.assign_cost_centre(
            db.session,
            actor=actor,
            cost_centre_id=form.cost_centre_id.data,
            bill_to_entity_id=form.bill_to_entity_id.data,
        ),
        success="Cost centre assigned; the next close bills its spend there.",
        then=url_for(".settings") + "#cost-centres",
    )
    return done or _page(centre_form=form)


@bp.post("/settings/vat-rates")
@login_required
def add_vat_rate():
    form = VatRateForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: billing.add_vat_rate(
            db.session,
            actor=actor,
            country=form.country.data,
            category=form.category.data,
            rate=form.rate.data,
            effective_from=form.effective_from.data,
        ),
        success="VAT rate added.",
        then=url_for(".settings") + "#vat-rates",
    )
    return done or _page(rate_form=form)


# --- stacked taxes and service fees (issue 13) ----------------------------------------------


def _taxes_and_fees(session, component_form, fee_form) -> dict:
    """The settings page's stacked taxes and service fee sections."""
    from fms.invoicing.models import TaxComponent
    from fms.workforce.models import Supplier

    suppliers = session.scalars(select(Supplier).order_by(Supplier.name)).all()
    fee_form = fee_form or ServiceFeeForm()
    fee_form.supplier_id.choices = [("", "The organization (everyone else)")] + [
        (str(s.id), s.name) for s in suppliers
    ]
    return {
        "component_form": component_form or TaxComponentForm(),
        "fee_form": fee_form,
        "components": session.scalars(
            select(TaxComponent).order_by(
                TaxComponent.country,
                TaxComponent.region,
                TaxComponent.category,
                TaxComponent.effective_from,
                TaxComponent.id,
            )
        ).all(),
        "fees": billing.service_fees(session),
        "supplier_names": {s.id: s.name for s in suppliers},
    }


@bp.post("/settings/tax-components")
@login_required
def add_tax_component():
    form = TaxComponentForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: billing.add_tax_component(
            db.session,
            actor=actor,
            country=form.country.data,
            region=form.region.data,
            category=form.category.data,
            name=form.name.data,
            rate=form.rate.data,
            effective_from=form.effective_from.data,
        ),
        success="Tax added to the set. Enter each tax of the set with the same date.",
        then=url_for(".settings") + "#stacked-taxes",
    )
    return done or _page(component_form=form)


@bp.post("/settings/service-fee")
@login_required
def set_service_fee():
    form = ServiceFeeForm()
    actor = current_actor()
    done = submitted(
        form,
        lambda: billing.set_service_fee(
            db.session,
            actor=actor,
            supplier_id=form.supplier_id.data or None,
            percent=(form.percent.data or "").strip() or None,
        ),
        success="Service fee saved; the next close adds it. Invoices already made keep theirs.",
        then=url_for(".settings") + "#service-fee",
    )
    return done or _page(fee_form=form)
